package cordon.ec2.response_test

import data.cordon.ec2.response

instance_id := "i-0a1b2c3d4e5f67890"

instance := {
	"type": "aws_instance",
	"id": instance_id,
	"tags": {"Name": "web-1"},
	"details": {"instance_type": "t3.large", "public_ip": "54.201.17.33"},
}

all_actions := ["tag", "protect", "isolate", "detach", "deregister", "snapshot", "stop", "notify"]

describe := {
	"instance_id": instance_id,
	"state": "running",
	"tags": {"Name": "web-1"},
	"target_groups": [],
	"load_balancers": [],
}

xmrig := {"pid": 24817, "ppid": 1, "name": "xmrig", "exe": "/tmp/.x/xmrig", "cmdline": "xmrig -o pool.supportxmr.com:443", "user": "apache"}

triage(processes) := {"hostname": "web-1", "collected_at": "2025-03-14T04:05:12Z", "processes": processes, "connections": [], "truncated": false}

# make_input is the response's input: the verdict package's document
# included, as the engine passes it.
make_input(v, confidence, resource, facts, allowed) := {
	"finding": {
		"id": "b2c8e1a4f3d94e6fa0c1d2e3f4a5b6c7",
		"source": "guardduty",
		"type": "Backdoor:EC2/C&CActivity.B!DNS",
		"severity": "high",
		"severity_score": 8,
		"count": 1,
		"resource": resource,
		"resources": [resource],
		"raw": {},
	},
	"resource": resource,
	"facts": facts,
	"scope": {"name": "ec2_instances"},
	"rule": {"name": "ec2_compromise", "actions": allowed},
	"verdict": {
		"verdict": v,
		"confidence": confidence,
		"reasons": ["GuardDuty: the instance contacted a known command-and-control server"],
		"summary": "Instance i-0a1b2c3d4e5f67890 (web-1) is compromised: malware on the instance contacted a known command-and-control server.",
	},
}

facts := {"describe": describe, "triage": triage([])}

chosen(x) := {a.action | some a in response.actions with input as x}

action(x, name) := a if {
	some a in response.actions with input as x
	a.action == name
}

test_malicious_with_high_confidence_is_contained_and_stopped if {
	x := make_input("malicious", 0.95, instance, facts, all_actions)
	chosen(x) == {"tag", "protect", "isolate", "snapshot", "stop", "notify"}
	actions := response.actions with input as x
	every a in actions {
		a.target == instance_id
		is_string(a.reason)
		a.reason != ""
	}
	action(x, "stop").reason == "confidence 0.95 is at least 0.90: stopping ends the attacker's foothold; the volumes are snapshotted first and kept"
	action(x, "notify").reason == "malicious (confidence 0.95): Instance i-0a1b2c3d4e5f67890 (web-1) is compromised: malware on the instance contacted a known command-and-control server."
	action(x, "tag").reason == "mark the instance as part of an incident (verdict malicious)"
}

test_malicious_below_the_threshold_is_isolated_but_left_running if {
	x := make_input("malicious", 0.8, instance, facts, all_actions)
	chosen(x) == {"tag", "protect", "isolate", "snapshot", "notify"}
	action(x, "notify").reason == "malicious (confidence 0.80): Instance i-0a1b2c3d4e5f67890 (web-1) is compromised: malware on the instance contacted a known command-and-control server. [not stopped: confidence 0.80 is below 0.90 and no miner is running; the isolated instance is left running for a responder]"
}

test_a_running_miner_is_stopped_whatever_the_confidence if {
	x := make_input("malicious", 0.8, instance, {"describe": describe, "triage": triage([xmrig])}, all_actions)
	"stop" in chosen(x)
	action(x, "stop").reason == "a cryptocurrency miner is running (xmrig): stopping ends the abuse; the volumes are snapshotted first and kept"
}

test_a_miner_in_errored_triage_does_not_count if {
	t := object.union(triage([xmrig]), {"error": "output could not be parsed"})
	x := make_input("malicious", 0.8, instance, {"describe": describe, "triage": t}, all_actions)
	not "stop" in chosen(x)
}

test_a_confidence_of_one_formats if {
	x := make_input("malicious", 1, instance, facts, all_actions)
	action(x, "stop").reason == "confidence 1.00 is at least 0.90: stopping ends the attacker's foothold; the volumes are snapshotted first and kept"
}

test_no_confidence_means_no_stop if {
	x := object.union(make_input("malicious", 0.99, instance, facts, all_actions), {"verdict": {"confidence": null}})
	y := json.patch(x, [{"op": "remove", "path": "/verdict/confidence"}])
	chosen(y) == {"tag", "protect", "isolate", "snapshot", "notify"}
	startswith(action(y, "notify").reason, "malicious (confidence 0.00): ")
}

asg_describe := object.union(describe, {
	"autoscaling_group": "orders-api-asg",
	"target_groups": ["arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/orders-api/4f2b8c1d9e3a7b6c"],
})

test_auto_scaling_members_are_detached_and_deregistered_before_the_stop if {
	x := make_input("malicious", 0.9, instance, {"describe": asg_describe, "triage": triage([])}, all_actions)
	chosen(x) == {"tag", "protect", "isolate", "detach", "deregister", "snapshot", "stop", "notify"}
	action(x, "detach").reason == "detach the instance from auto scaling group orders-api-asg (its capacity is replaced), so the group neither terminates it when it stops nor counts it as serving"
	action(x, "deregister").reason == "deregister the instance from its 1 load balancer target(s), so no client traffic reaches a compromised host"
}

test_auto_scaling_members_are_not_stopped_when_detach_is_not_allowed if {
	allowed := ["tag", "protect", "isolate", "snapshot", "stop", "notify"]
	x := make_input("malicious", 0.95, instance, {"describe": asg_describe, "triage": triage([])}, allowed)
	chosen(x) == {"tag", "protect", "isolate", "snapshot", "notify"}
	endswith(action(x, "notify").reason, "[not stopped: it belongs to auto scaling group orders-api-asg, which would terminate it once stopped; detach it first]")
}

test_auto_scaling_membership_from_the_tag if {
	tagged := object.union(instance, {"tags": {"aws:autoscaling:groupName": "web-asg"}})
	x := make_input("malicious", 0.95, tagged, {"describe": {"error": "throttled"}}, all_actions)
	action(x, "detach").reason == "detach the instance from auto scaling group web-asg (its capacity is replaced), so the group neither terminates it when it stops nor counts it as serving"
	"stop" in chosen(x)
	not "deregister" in chosen(x)
}

test_suspicious_preserves_evidence_without_disruption if {
	x := make_input("suspicious", 0.7, instance, {"describe": asg_describe, "triage": triage([])}, all_actions)
	chosen(x) == {"tag", "protect", "snapshot", "notify"}
	action(x, "tag").reason == "mark the instance as part of an incident (verdict suspicious)"
	startswith(action(x, "notify").reason, "suspicious (confidence 0.70): ")
}

test_inconclusive_only_notifies if {
	x := make_input("inconclusive", 0.5, instance, facts, all_actions)
	chosen(x) == {"notify"}
}

test_benign_does_nothing if {
	x := make_input("benign", 0.9, instance, facts, all_actions)
	count(response.actions) == 0 with input as x
}

test_only_allowed_actions_are_chosen if {
	x := make_input("malicious", 0.99, instance, {"describe": asg_describe, "triage": triage([xmrig])}, ["isolate", "notify"])
	chosen(x) == {"isolate", "notify"}
	count(response.actions) == 0 with input as make_input("malicious", 0.99, instance, facts, [])
}

test_allowed_is_mockable if {
	x := make_input("malicious", 0.99, instance, facts, all_actions)
	chosen(x) == {"notify"} with data.cordon.lib.allowed as allow_notify_only
}

allow_notify_only(name) if name == "notify"

test_other_resources_only_notify if {
	key := {"type": "aws_iam_access_key", "id": "AKIAXQ4G7NF2EXAMPLE1", "tags": {}, "details": {}}
	x := make_input("malicious", 0.99, key, {}, all_actions)
	response.actions == {{
		"action": "notify",
		"target": "AKIAXQ4G7NF2EXAMPLE1",
		"reason": "malicious (confidence 0.99): Instance i-0a1b2c3d4e5f67890 (web-1) is compromised: malware on the instance contacted a known command-and-control server.",
	}} with input as x
}

test_without_a_summary_the_notification_names_the_finding if {
	x := make_input("inconclusive", 0.5, instance, facts, all_actions)
	y := json.patch(x, [{"op": "remove", "path": "/verdict/summary"}])
	action(y, "notify").reason == "inconclusive (confidence 0.50): Backdoor:EC2/C&CActivity.B!DNS on i-0a1b2c3d4e5f67890"
}

# A rule that acquires memory: the stop is still chosen (cordon withholds
# it until the image is confirmed), and the notification says why the
# instance keeps running until then.
memory_image := {
	"bucket": "cordon-evidence", "key": "cordon/inc-1/i-0a1b2c3d4e5f67890/memory-20250314T040512Z.lime",
	"size": 4294967296, "sha256": "9f2c4d1e8b7a6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d",
	"tool": "avml", "tool_sha256": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
}

test_a_secured_memory_image_adds_no_note if {
	x := make_input("malicious", 0.95, instance, object.union(facts, {"memory": memory_image}), all_actions)
	"stop" in chosen(x)
	not contains(action(x, "notify").reason, "memory")
}

test_memory_not_secured_is_noted_in_the_notification if {
	x := make_input("malicious", 0.95, instance, object.union(facts, {"memory": {"error": "the SSM agent of instance i-0a1b2c3d4e5f67890 is ConnectionLost, not Online, so its memory cannot be acquired"}}), all_actions)
	"stop" in chosen(x)
	endswith(action(x, "notify").reason, "[not stopped yet: its memory is not secured (collector \"memory\" failed: the SSM agent of instance i-0a1b2c3d4e5f67890 is ConnectionLost, not Online, so its memory cannot be acquired), and stopping would lose it; the stop waits for a memory image]")
}

test_memory_gathered_nothing_is_noted if {
	x := make_input("malicious", 0.95, instance, object.union(facts, {"memory": {}}), all_actions)
	contains(action(x, "notify").reason, "its memory is not secured (collector \"memory\" gathered nothing)")
}

test_a_memory_image_without_a_digest_is_not_secured if {
	x := make_input("malicious", 0.95, instance, object.union(facts, {"memory": object.remove(memory_image, ["sha256"])}), all_actions)
	contains(action(x, "notify").reason, "its memory is not secured (collector \"memory\" confirmed no image)")
}

test_memory_is_only_noted_where_a_stop_is_chosen if {
	failed := object.union(facts, {"memory": {"error": "timed out"}})
	not contains(action(make_input("malicious", 0.8, instance, failed, all_actions), "notify").reason, "memory")
	not contains(action(make_input("suspicious", 0.7, instance, failed, all_actions), "notify").reason, "memory")
	not contains(action(make_input("malicious", 0.95, instance, failed, ["tag", "isolate", "notify"]), "notify").reason, "memory")
}

test_a_rule_without_the_memory_collector_notes_nothing if {
	x := make_input("malicious", 0.95, instance, facts, all_actions)
	not contains(action(x, "notify").reason, "memory")
}
