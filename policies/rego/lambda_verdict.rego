# Package cordon.lambda.verdict judges GuardDuty Lambda Protection findings
# (*:Lambda/*): network traffic of a Lambda function that GuardDuty
# distrusts.
#
# Malicious: a high-fidelity family (command and control, mining,
# black-holed or drop-point addresses) at high severity, or a remote end on
# a threat list: code the function's owner did not write is running in it.
# Suspicious: Tor and the rest. cordon has no action on functions, so every
# verdict but benign is a notification with what to do by hand.
package cordon.lambda.verdict

import data.cordon.lib

# ---------------------------------------------------------------------------
# The verdict document (cordon's docs/policies.md)

verdict := "malicious" if {
	count(detector_evidence) > 0
} else := "suspicious" if {
	count(suspicious_evidence) > 0
} else := "inconclusive"

confidence := 0.9 if {
	count(detector_evidence) > 1
} else := 0.8 if {
	verdict == "malicious"
} else := 0.6 if {
	verdict == "suspicious"
} else := 0.5

reasons contains r if some r in evidence

evidence := detector_evidence | suspicious_evidence if {
	verdict == "malicious"
} else := suspicious_evidence if {
	verdict == "suspicious"
} else := {sprintf("GuardDuty reported %s at %s severity, but the finding does not say enough to judge it", [input.finding.type, input.finding.severity])}

reasons contains sprintf("function %s: runtime %s, execution role %s, last changed %s", [function, object.get(details, "runtime", "unknown"), object.get(details, "role", "unknown"), object.get(details, "last_modified_at", "at an unknown time")]) if {
	count(details) > 0
}

reasons contains "GuardDuty marked this finding as a generated sample" if lib.sample

summary := sprintf("Lambda function %s is compromised: %s.", [function, root_cause]) if {
	verdict == "malicious"
} else := sprintf("Lambda function %s needs a responder: %s (%s severity).", [function, finding_title, input.finding.severity]) if {
	verdict == "suspicious"
} else := sprintf("%s on Lambda function %s could be neither confirmed nor explained; a responder should review it.", [input.finding.type, function])

root_cause := sprintf("code in the function %s", [activity]) if {
	verdict == "malicious"
	activity
} else := sprintf("code in the function talks to %s, which is on threat list %s", [indicator, concat(", ", lib.threat_lists)]) if {
	verdict == "malicious"
} else := "undetermined: the evidence does not show how the function was changed"

impact := concat("; ", [text | some [_, text] in impact_parts]) if {
	verdict in {"malicious", "suspicious"}
}

impact_parts contains [1, sprintf("the code runs with the permissions of execution role %s, whose credentials it can read and send out", [role])] if {
	role := details.role
	lib.non_empty_string(role)
}

impact_parts contains [2, "every invocation runs it again, until the function is stopped or its code replaced"]

# ---------------------------------------------------------------------------
# Evidence

detector_evidence contains sprintf("GuardDuty: the function %s (%s)", [activity, indicator]) if {
	lib.finding_purpose in lib.high_fidelity_purposes
	lib.at_least("high")
	activity
}

detector_evidence contains sprintf("GuardDuty: %s is on threat list %s%s", [indicator, list, threat_names_suffix]) if {
	some list in lib.threat_lists
}

suspicious_evidence contains sprintf("GuardDuty: the function %s (%s), at %s severity", [activity, indicator, input.finding.severity]) if {
	lib.finding_purpose in lib.high_fidelity_purposes
	not lib.at_least("high")
	activity
}

suspicious_evidence contains sprintf("GuardDuty: the function talks to the Tor network (%s): %s", [indicator, finding_title]) if {
	startswith(lib.finding_threat, "Tor")
}

suspicious_evidence contains sprintf("GuardDuty: the function talks to %s, an address GuardDuty considers malicious, but the finding names no threat list", [indicator]) if {
	startswith(lib.finding_threat, "MaliciousIPCaller")
	count(lib.threat_lists) == 0
}

suspicious_evidence contains sprintf("GuardDuty: %s (%s, %s severity)", [finding_title, input.finding.type, input.finding.severity]) if {
	lib.at_least("high")
	not activity
	not startswith(lib.finding_threat, "Tor")
	not startswith(lib.finding_threat, "MaliciousIPCaller")
}

activity := lib.threat_activity

# ---------------------------------------------------------------------------
# The function and the remote end

function := input.resource.id

details := input.resource.details

indicator := sprintf("domain %s", [lib.domain]) if {
	lib.domain
} else := sprintf("address %s", [addr]) if {
	addr := remote_endpoint
} else := "an unknown remote end"

remote_endpoint := sprintf("%s:%v", [lib.remote_ip, input.finding.network.remote_port]) if {
	lib.remote_ip
	input.finding.network.remote_port
} else := lib.remote_ip

# finding_title is the finding's title as a clause: no final period.
finding_title := t if {
	t := trim_suffix(trim_space(input.finding.title), ".")
	t != ""
} else := input.finding.type

threat_names_suffix := sprintf(" (%s)", [concat(", ", lib.threat_names)]) if {
	count(lib.threat_names) > 0
} else := ""
