# Package cordon.iam.verdict decides whether a finding about IAM credentials
# (an access key and the user or role it belongs to) means they are in an
# attacker's hands. It takes every GuardDuty IAM finding (*:IAMUser/*).
#
# Malicious: the temporary credentials of an EC2 instance or another AWS
# resource used outside AWS or from another account
# (InstanceCredentialExfiltration, ResourceCredentialExfiltration), calls
# from an address on a threat list (MaliciousIPCaller with
# threat-intelligence evidence), or CloudTrail (facts.trail, type
# aws_cloudtrail_events) showing the key making the calls an intruder makes
# to stay, escalate or hide.
# Suspicious: anomalous behaviour, Tor, a malicious caller without named
# evidence, a penetration-testing distribution, logging turned off, the
# root user at work, denied probing in CloudTrail. Missing CloudTrail facts
# are said in the reasons and lower the confidence.
package cordon.iam.verdict

import data.cordon.lib

# ---------------------------------------------------------------------------
# The verdict document (cordon's docs/policies.md)

verdict := "malicious" if {
	count(malicious_evidence) > 0
} else := "suspicious" if {
	count(suspicious_evidence) > 0
} else := "inconclusive"

confidence := 0.99 if {
	count(detector_evidence) > 0
	count(trail_evidence) > 0
} else := 0.95 if {
	outside_aws
} else := 0.9 if {
	verdict == "malicious"
} else := 0.7 if {
	verdict == "suspicious"
	count(suspicious_evidence) > 1
} else := 0.6 if {
	verdict == "suspicious"
	trail
} else := 0.5

reasons contains r if some r in evidence

# evidence is what the verdict rests on.
evidence := malicious_evidence | suspicious_evidence if {
	verdict == "malicious"
} else := suspicious_evidence if {
	verdict == "suspicious"
} else := {sprintf("GuardDuty reported %s at %s severity, but neither the finding nor CloudTrail confirm or explain it", [input.finding.type, input.finding.severity])}

reasons contains sprintf("no CloudTrail evidence (%s): what else the key did was not checked", [lib.gap("trail")]) if {
	not trail
}

reasons contains "CloudTrail events were truncated: calls beyond the limit were not examined" if {
	trail.truncated == true
}

reasons contains sprintf("the reported call %s was denied (%s): the caller holds the credentials but lacked permission for that call", [lib.api_name, lib.api_error_code]) if {
	lib.api_error_code
}

reasons contains "the principal is the account's root user: cordon can neither disable root keys nor restrict root; rotate them while signed in as root" if {
	root
}

reasons contains sprintf("%s is a temporary key issued by STS: it cannot be disabled, only its role's sessions revoked", [key]) if {
	temporary_key
}

reasons contains "GuardDuty marked this finding as a generated sample" if lib.sample

summary := sprintf("The credentials of %s are compromised: %s.", [principal_label, root_cause]) if {
	verdict == "malicious"
} else := sprintf("The credentials of %s show signs of misuse that need a responder: %s at %s severity.", [principal_label, input.finding.type, input.finding.severity]) if {
	verdict == "suspicious"
} else := sprintf("%s for %s could be neither confirmed nor explained; a responder should review it.", [input.finding.type, principal_label])

root_cause := sprintf("temporary credentials of role %s, issued to instance %s, were stolen from it (through its metadata service, by code on it or by SSRF) and used from %s", [principal.id, session_instance, caller]) if {
	exfiltration
	principal.type == "aws_iam_role"
	session_instance
} else := sprintf("temporary credentials %s issued to %s were stolen and used from %s", [issuer, principal_label, caller]) if {
	exfiltration
} else := sprintf("access key %s of %s is in the hands of whoever operates from %s (threat list %s)", [key, principal_label, caller, concat(", ", lib.threat_lists)]) if {
	malicious_ip_caller
	count(lib.threat_lists) > 0
} else := sprintf("access key %s of %s was used to call %s", [key, principal_label, concat(", ", sensitive_calls)]) if {
	count(trail_evidence) > 0
} else := "undetermined: the evidence does not show how the credentials were obtained"

impact := concat("; ", [text | some [_, text] in impact_parts]) if {
	verdict in {"malicious", "suspicious"}
}

impact_parts contains [1, sprintf("whoever holds the key can do everything %s is permitted to, until the key is disabled or its sessions are revoked", [principal_label])]

impact_parts contains [2, sprintf("it has already called %s: look for users, keys, policies and trails it created or changed", [concat(", ", sensitive_calls)])] if {
	count(sensitive_calls) > 0
}

impact_parts contains [3, sprintf("revoking the sessions of role %s also signs out its legitimate sessions issued before now, which renew on their own", [principal.id])] if {
	verdict == "malicious"
	principal.type == "aws_iam_role"
}

# ---------------------------------------------------------------------------
# Evidence

malicious_evidence := detector_evidence | trail_evidence

detector_evidence contains sprintf("GuardDuty: credentials %s issued to %s%s were used from %s, outside AWS%s", [issuer, principal_label, session_suffix, caller, call_suffix]) if {
	outside_aws
}

detector_evidence contains sprintf("GuardDuty: credentials %s issued to %s%s were used from another AWS account (%s)%s", [issuer, principal_label, session_suffix, caller, call_suffix]) if {
	exfiltration
	not outside_aws
}

detector_evidence contains sprintf("GuardDuty: %s called %s from %s, which is on threat list %s%s", [principal_label, api_label, caller, list, threat_names_suffix]) if {
	some list in lib.threat_lists
}

trail_evidence contains sprintf("CloudTrail: the key called %s from %s (persistence, privilege escalation or log tampering)", [concat(", ", sensitive_calls), caller_or_any]) if {
	count(sensitive_calls) > 0
}

suspicious_evidence contains sprintf("GuardDuty: %s called %s from %s, an address GuardDuty considers malicious, but the finding names no threat list", [principal_label, api_label, caller]) if {
	malicious_ip_caller
	count(lib.threat_lists) == 0
}

suspicious_evidence contains sprintf("GuardDuty: %s called %s through the Tor network (exit node %s); legitimate users rarely hide where they are", [principal_label, api_label, caller]) if {
	tor_caller
}

suspicious_evidence contains sprintf("GuardDuty: %s made %s API calls unlike its history (%s)", [principal_label, lib.finding_purpose, finding_title]) if {
	anomalous
}

# The key's usual networks are those CloudTrail shows it used from before
# the finding's window (within the collector's lookback): its owner's
# offices, CI runners, NAT gateways. Calls during or after the window from
# any other network are the intruder's, or at least need explaining.
# Networks are /24s for IPv4 and /48s for IPv6, so a NAT pool or a DHCP
# lease change is not news. AWS services calling on the key's behalf give
# a host name (s3.amazonaws.com), not an address, and are left out.
suspicious_evidence contains sprintf("CloudTrail: the key was used from %s, outside the networks it was used from before the finding (%s)", [concat(", ", sort(new_addresses)), concat(", ", sort(usual_networks))]) if {
	count(usual_networks) > 0
	count(new_addresses) > 0
}

# key_history are the key's events with an address, each with its time in
# nanoseconds; events with an unparsable time are left out.
key_history := [[ns, e] |
	some e in trail.events
	e.access_key_id == key
	net.cidr_is_valid(sprintf("%s/32", [e.source_ip]))
	ns := lib.time_ns(e.time)
] if {
	lib.finding_window
}

usual_networks := {lib.network_of(e.source_ip) |
	some [ns, e] in key_history
	ns < lib.finding_window[0]
}

new_addresses := {e.source_ip |
	some [ns, e] in key_history
	ns >= lib.finding_window[0]
	not lib.network_of(e.source_ip) in usual_networks
}

suspicious_evidence contains sprintf("CloudTrail: %d denied call(s) with the key from %s (%s): someone is probing its permissions", [count(denied_calls), caller_or_any, concat(", ", {e.event_name | some e in denied_calls})]) if {
	count(denied_calls) > 0
}

suspicious_evidence contains sprintf("GuardDuty: %s called %s from %s, which runs %s, a penetration-testing distribution: confirm whether a test is authorized", [principal_label, api_label, caller, lib.finding_threat]) if {
	pentest
}

suspicious_evidence contains sprintf("GuardDuty: %s called %s: %s; intruders turn off what records them", [principal_label, api_label, finding_title]) if {
	evasion
}

suspicious_evidence contains sprintf("GuardDuty: the root user's credentials were used to call %s from %s; day-to-day work never needs root", [api_label, caller]) if {
	root_usage
}

suspicious_evidence contains sprintf("GuardDuty: %s (%s, %s severity)", [finding_title, input.finding.type, input.finding.severity]) if {
	not exfiltration
	not malicious_ip_caller
	not tor_caller
	not anomalous
	not pentest
	not evasion
	not root_usage
	lib.at_least("high")
}

# ---------------------------------------------------------------------------
# Finding types

# exfiltration: temporary credentials AWS issued to an instance
# (InstanceCredentialExfiltration) or to another resource, such as a Lambda
# function or an ECS task (ResourceCredentialExfiltration), used by someone
# else.
exfiltration if startswith(lib.finding_threat, "InstanceCredentialExfiltration")

exfiltration if startswith(lib.finding_threat, "ResourceCredentialExfiltration")

outside_aws if {
	exfiltration
	endswith(lib.finding_threat, ".OutsideAWS")
}

issuer := "EC2" if {
	startswith(lib.finding_threat, "InstanceCredentialExfiltration")
} else := "AWS"

# pentest: calls from a penetration-testing distribution (Kali, Parrot,
# Pentoo): a test, or someone using its tools with the key.
pentest if lib.finding_purpose == "PenTest"

# evasion: changes that weaken what records or limits the account's
# activity (CloudTrail logging, the password policy, Bedrock model
# invocation logging), outside of anomaly findings.
evasion if {
	lib.finding_purpose in {"Stealth", "DefenseEvasion"}
	not anomalous
}

root_usage if startswith(lib.finding_threat, "RootCredentialUsage")

root_usage if startswith(lib.finding_threat, "ShortTermRootCredentialUsage")

malicious_ip_caller if startswith(lib.finding_threat, "MaliciousIPCaller")

tor_caller if startswith(lib.finding_threat, "TorIPCaller")

anomalous if startswith(lib.finding_threat, "AnomalousBehavior")

# ---------------------------------------------------------------------------
# The credentials and their principal

key := input.resource.id if input.resource.type == "aws_iam_access_key"

key_details := input.resource.details if input.resource.type == "aws_iam_access_key"

# temporary_key: STS credentials (ASIA…) belong to a session, not a user.
temporary_key if startswith(key, "ASIA")

root if key_details.user_type == "Root"

# principal is the user or role resource the finding names besides the key.
principal := ps[0] if {
	ps := [r | some r in input.finding.resources; r.type in {"aws_iam_user", "aws_iam_role"}]
	count(ps) > 0
}

principal_label := sprintf("user %s", [principal.id]) if {
	principal.type == "aws_iam_user"
} else := sprintf("role %s", [principal.id]) if {
	principal.type == "aws_iam_role"
} else := "the root user" if {
	root
} else := sprintf("%s %s", [object.get(key_details, "user_type", "principal"), key_details.user_name]) if {
	key_details.user_name != ""
} else := sprintf("access key %s", [input.resource.id])

# session_instance is the instance an instance-profile session was issued
# to: its session name, after the role id in the principal id.
session_instance := id if {
	parts := split(key_details.principal_id, ":")
	id := parts[count(parts) - 1]
	startswith(id, "i-")
}

session_suffix := sprintf(" on instance %s", [session_instance]) if {
	session_instance
} else := ""

caller := ip if {
	ip := lib.remote_ip
} else := "an unknown address"

caller_or_any := caller if lib.remote_ip

caller_or_any := "any address" if not lib.remote_ip

api_label := lib.api_name if {
	lib.non_empty_string(lib.api_name)
} else := "the AWS API"

call_suffix := sprintf(" to call %s", [lib.api_name]) if {
	lib.non_empty_string(lib.api_name)
} else := ""

# finding_title is the finding's title as a clause: no final period.
finding_title := t if {
	t := trim_suffix(trim_space(input.finding.title), ".")
	t != ""
} else := input.finding.type

threat_names_suffix := sprintf(" (%s)", [concat(", ", lib.threat_names)]) if {
	count(lib.threat_names) > 0
} else := ""

# ---------------------------------------------------------------------------
# CloudTrail

trail := input.facts.trail if lib.usable("trail")

trail_ip := ip if {
	ip := lib.remote_ip
} else := ""

key_events := lib.events_by(trail, key, trail_ip)

sensitive_calls := {e.event_name |
	sensitive := lib.sensitive_api_calls
	some e in key_events
	e.event_name in sensitive
	lib.succeeded(e)
}

denied_calls := {e |
	some e in key_events
	not lib.succeeded(e)
}
