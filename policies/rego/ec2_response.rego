# Package cordon.ec2.response chooses the response to an EC2 verdict
# (cordon.ec2.verdict), from the actions the matched rule allows:
#
#   malicious     tag, protect, isolate, detach, deregister, snapshot, stop, notify
#   suspicious    tag, protect, snapshot, notify (evidence is kept, service is not disturbed)
#   inconclusive  notify
#   benign        nothing
#
# Apply runs them in phase order (preserve, contain, acquire, disrupt,
# notify), so the instance is protected before it is isolated, and its
# volumes are snapshotted before it is stopped. Its memory is acquired
# before any of them, by the rule's memory collector: cordon withholds the
# stop until that image is confirmed, and the notification says so. Action names are the starter
# configuration's action blocks; an action the rule does not list is left
# out (lib.allowed), never an error.
package cordon.ec2.response

import data.cordon.lib

verdict := input.verdict.verdict

confidence := object.get(input.verdict, "confidence", 0)

# stop_threshold is the confidence at which a malicious instance is stopped
# even when nothing shows it abusing resources: below it, isolation contains
# the instance while a responder decides.
stop_threshold := 0.9

# instance is the target of the instance actions; undefined when the rule
# sent a finding about something else here, which then only notifies.
instance := input.resource.id if input.resource.type == "aws_instance"

preserve if verdict in {"malicious", "suspicious"}

contain if verdict == "malicious"

actions contains {
	"action": "tag",
	"target": instance,
	"reason": sprintf("mark the instance as part of an incident (verdict %s)", [verdict]),
} if {
	preserve
	lib.allowed("tag")
}

actions contains {
	"action": "protect",
	"target": instance,
	"reason": "turn on termination protection and keep the volumes on termination, so the evidence survives whatever happens next",
} if {
	preserve
	lib.allowed("protect")
}

actions contains {
	"action": "isolate",
	"target": instance,
	"reason": "replace every network interface's security groups with the isolation group: cuts the attacker's access and the instance's reach",
} if {
	contain
	lib.allowed("isolate")
}

actions contains {
	"action": "detach",
	"target": instance,
	"reason": sprintf("detach the instance from auto scaling group %s (its capacity is replaced), so the group neither terminates it when it stops nor counts it as serving", [autoscaling_group]),
} if {
	contain
	autoscaling_group
	lib.allowed("detach")
}

actions contains {
	"action": "deregister",
	"target": instance,
	"reason": sprintf("deregister the instance from its %d load balancer target(s), so no client traffic reaches a compromised host", [count(load_balancing)]),
} if {
	contain
	count(load_balancing) > 0
	lib.allowed("deregister")
}

actions contains {
	"action": "snapshot",
	"target": instance,
	"reason": "snapshot every attached volume for forensics before anything else changes on disk",
} if {
	preserve
	lib.allowed("snapshot")
}

actions contains {
	"action": "stop",
	"target": instance,
	"reason": stop_reason,
} if {
	contain
	not stop_withheld
	lib.allowed("stop")
}

actions contains {
	"action": "notify",
	"target": input.resource.id,
	"reason": notify_reason,
} if {
	verdict != "benign"
	lib.allowed("notify")
}

# stop_reason is why a malicious instance is stopped; undefined when it
# should keep running (isolated) for a responder to examine.
stop_reason := sprintf("a cryptocurrency miner is running (%s): stopping ends the abuse; the volumes are snapshotted first and kept", [concat(", ", miner_names)]) if {
	count(miner_names) > 0
} else := sprintf("confidence %s is at least %s: stopping ends the attacker's foothold; the volumes are snapshotted first and kept", [lib.decimal(confidence), lib.decimal(stop_threshold)]) if {
	confidence >= stop_threshold
}

# stop_withheld holds when stopping a malicious instance would do harm or
# is not warranted; notes say which, in the notification.
stop_withheld if not stop_reason

# A stopped instance fails its auto scaling health check and is terminated,
# evidence and all, unless it is detached first.
stop_withheld if {
	autoscaling_group
	not lib.allowed("detach")
}

notes contains sprintf("not stopped: confidence %s is below %s and no miner is running; the isolated instance is left running for a responder", [lib.decimal(confidence), lib.decimal(stop_threshold)]) if {
	contain
	not stop_reason
}

notes contains sprintf("not stopped: it belongs to auto scaling group %s, which would terminate it once stopped; detach it first", [autoscaling_group]) if {
	contain
	stop_reason
	autoscaling_group
	not lib.allowed("detach")
}

# A rule that collects the instance's memory (facts.memory) keeps it from
# being stopped before the image is secured: cordon withholds the stop, and
# the person notified learns why the instance still runs (isolated).
notes contains sprintf("not stopped yet: its memory is not secured (%s), and stopping would lose it; the stop waits for a memory image", [memory_gap]) if {
	contain
	stop_reason
	not stop_withheld
	lib.allowed("stop")
	"memory" in object.keys(input.facts)
	not memory_secured
}

# memory_secured: the memory collector confirmed an image in S3.
memory_secured if {
	lib.usable("memory")
	regex.match(`^[0-9a-f]{64}$`, input.facts.memory.sha256)
}

memory_gap := g if {
	g := lib.gap("memory")
} else := `collector "memory" confirmed no image`

notify_reason := sprintf("%s (confidence %s): %s%s", [verdict, lib.decimal(confidence), headline, notes_suffix])

headline := s if {
	s := input.verdict.summary
	s != ""
} else := sprintf("%s on %s", [input.finding.type, input.resource.id])

notes_suffix := concat("", [sprintf(" [%s]", [n]) | some n in notes])

describe := input.facts.describe if lib.usable("describe")

triage := input.facts.triage if lib.usable("triage")

miner_names := {object.get(p, "name", "unnamed") | some p in lib.miner_processes(triage)}

# autoscaling_group is the instance's group, from the live description or
# the tag auto scaling puts on its instances.
autoscaling_group := g if {
	g := describe.autoscaling_group
	g != ""
} else := g if {
	g := input.resource.tags["aws:autoscaling:groupName"]
	g != ""
}

load_balancing := {x | some x in describe.target_groups} | {x | some x in describe.load_balancers}
