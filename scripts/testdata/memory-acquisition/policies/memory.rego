# Tag and stop the instance: the measurement is about the memory
# acquisition that must come before the stop, not about the verdict.
package cordon.memory

verdict := "malicious"

reasons contains sprintf("GuardDuty reported %s", [input.finding.type])

actions contains {"action": "tag", "reason": "mark the instance as compromised"}

actions contains {"action": "stop", "reason": "stop the compromised instance once its memory is secured"}
