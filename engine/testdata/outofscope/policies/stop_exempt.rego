package test.stop_exempt

# ci-runner-3, named by the finding, is tagged cordon:exempt.
actions contains {"action": "stop", "target": "i-0d1d2d3d4d5d6d7d8", "reason": "stop the runner"}
