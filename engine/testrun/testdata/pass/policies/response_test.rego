package fixture.response_test

import data.fixture.response

instance := {"type": "aws_instance", "id": "i-0a1b2c3d4e5f67890"}

test_malicious_instances_are_isolated_and_stopped if {
	names := {a.action | some a in response.actions} with input as {
		"resource": instance,
		"rule": {"name": "instances"},
		"verdict": {"verdict": "malicious"},
	}
	names == {"isolate", "stop", "notify"}
}

# One test, a case per verdict: `opa test` counts each case.
test_notify_unless_benign[verdict] if {
	some verdict, want in {"malicious": true, "suspicious": true, "inconclusive": true, "benign": false}
	notified := {a.action | some a in response.actions} with input as {
		"resource": instance,
		"rule": {"name": "instances"},
		"verdict": {"verdict": verdict},
	}
	want == ("notify" in notified)
}
