# Package cordon.ec2.verdict decides whether a finding about an EC2 instance
# means the instance is compromised.
#
# It takes every GuardDuty EC2 finding (*:EC2/*, Malware Protection's scans
# of the instance's volumes included) and weighs three kinds of evidence,
# strongest first:
#   1. the host itself: what the triage collector (facts.triage, type
#      aws_ssm_triage) saw running on it: a miner, a reverse shell, a shell
#      run from /dev/shm, a login by the attacker, persistence in cron;
#   2. the detector: a GuardDuty family that is malicious in itself
#      (Backdoor, CryptoCurrency, Trojan) at high severity, a remote party
#      on a threat list, the instance attacking others;
#   3. context: the instance's tags (facts.describe, type aws_ec2_describe,
#      else the finding's), such as cordon:authorized-scanner = "true".
# Host evidence outranks the scanner tag, which outranks the detector's
# classification: an authorized scanner brute-forcing hosts is doing its
# job, one running a miner is not. Missing facts are stated in the reasons
# and lower the confidence; they never count as evidence either way.
package cordon.ec2.verdict

import data.cordon.lib

# ---------------------------------------------------------------------------
# The verdict document (cordon's docs/policies.md)

verdict := "malicious" if {
	count(host_evidence) > 0
} else := "benign" if {
	scanner_explains
} else := "malicious" if {
	count(detector_evidence) + count(corroboration) > 0
} else := "suspicious" if {
	count(suspicious_evidence) > 0
} else := "benign" if {
	failed_brute_force
} else := "inconclusive"

# confidence grows with independent evidence: the host and the detector
# agreeing is near certain; the detector alone is only as good as its
# classification.
confidence := 0.99 if {
	verdict == "malicious"
	host_confirms
	count(detector_evidence) > 0
} else := 0.95 if {
	verdict == "malicious"
	host_confirms
} else := 0.9 if {
	verdict == "malicious"
	count(detector_evidence) > 1
} else := 0.8 if {
	verdict == "malicious"
} else := 0.9 if {
	verdict == "benign"
	scanner_explains
} else := 0.8 if {
	verdict == "benign"
	triage
} else := 0.6 if {
	verdict == "benign"
} else := 0.7 if {
	verdict == "suspicious"
	count(suspicious_evidence) > 1
} else := 0.6 if {
	verdict == "suspicious"
	triage
} else := 0.5 if {
	verdict == "suspicious"
} else := 0.5

# host_confirms: the host itself shows the compromise or the activity.
host_confirms if count(host_evidence) + count(corroboration) > 0

reasons contains r if some r in evidence

# evidence is what the verdict rests on: all that was found for a
# malicious one, the signs for a suspicious one, the explanations for a
# benign one.
evidence := ((host_evidence | corroboration) | detector_evidence) | suspicious_evidence if {
	verdict == "malicious"
} else := suspicious_evidence if {
	verdict == "suspicious"
} else := benign_evidence if {
	verdict == "benign"
} else := {sprintf("GuardDuty reported %s at %s severity, but neither the finding nor the facts confirm or explain it", [input.finding.type, input.finding.severity])}

# Missing evidence is said, whatever the verdict.
reasons contains sprintf("no host triage (%s): nothing on the instance itself could be checked", [lib.gap("triage")]) if {
	not triage
}

reasons contains sprintf("no live instance description (%s): tags and state are as the finding reported them", [lib.gap("describe")]) if {
	not describe
}

reasons contains "triage output was truncated: evidence beyond the limit was not examined" if {
	triage.truncated == true
}

reasons contains sprintf("the instance is tagged cordon:authorized-scanner = \"true\", but scanning does not explain %s", [input.finding.type]) if {
	scanner_tagged
	not scanner_explains
}

reasons contains "GuardDuty marked this finding as a generated sample" if lib.sample

# An inbound attacker still connected shows the attempts go on, which a
# responder wants to know; it is no evidence of success (sshd accepts the
# connection of every failed attempt too).
reasons contains sprintf("triage: the attacker's address %s is still connected to %s: the attempts go on", [lib.connection_label(c), process_of(c)]) if {
	some c in attacker_connections
	lib.direction == "INBOUND"
}

summary := sprintf("Instance %s is compromised: %s.", [instance_label, headline]) if {
	verdict == "malicious"
} else := sprintf("Instance %s shows signs of compromise that need a responder: %s.", [instance_label, headline]) if {
	verdict == "suspicious"
} else := sprintf("%s on instance %s is expected: %s.", [input.finding.type, instance_label, headline]) if {
	verdict == "benign"
} else := sprintf("%s on instance %s could be neither confirmed nor explained; a responder should review it.", [input.finding.type, instance_label])

# headline is the most telling reason, for the one-line summary.
headline := root_cause if {
	verdict in {"malicious", "benign"}
} else := sprintf("%s at %s severity", [input.finding.type, input.finding.severity]) if {
	verdict == "suspicious"
}

root_cause := compromise if {
	verdict == "malicious"
} else := sprintf("the instance is an authorized scanner (tagged cordon:authorized-scanner = \"true\"), and scanning explains %s", [input.finding.type]) if {
	scanner_explains
} else := sprintf("internet background noise: %s brute-force attempts from %s against an exposed port, which GuardDuty did not see succeed", [brute_force_protocol, lib.remote_ip]) if {
	verdict == "benign"
} else := "undetermined: the evidence does not show how the instance was affected"

# compromise is the root cause of a malicious verdict: what the host shows
# first, else what the detector says.
compromise := sprintf("an attacker logged in as %s from %s", [login.user, lib.remote_ip]) if {
	login := first_attacker_login
} else := sprintf("a cryptocurrency miner (%s) was installed and runs as user %s", [miner.name, object.get(miner, "user", "unknown")]) if {
	miner := sort_by_pid(miners)[0]
} else := sprintf("an attacker has an interactive shell on the instance (%s connected to %s)", [pair[0].name, lib.connection_label(pair[1])]) if {
	pair := sort([s | some s in reverse_shells])[0]
} else := "the instance is compromised and is being used to brute-force other hosts" if {
	outbound_brute_force
} else := sprintf("malware on the instance %s", [activity]) if {
	lib.finding_purpose in {"Backdoor", "Trojan"}
} else := sprintf("malware is on the instance's volumes (%s)", [concat("; ", lib.malware_detections)]) if {
	malware_scan
	count(lib.malware_detections) > 0
} else := sprintf("software on the instance %s", [activity]) if {
	malicious_domain
} else := "cryptocurrency mining software runs on the instance (GuardDuty saw mining-pool traffic)" if {
	lib.finding_purpose == "CryptoCurrency"
} else := sprintf("%s (%s)", [finding_title, input.finding.type])

impact := concat("; ", [text | some [_, text] in impact_parts]) if {
	verdict in {"malicious", "suspicious"}
	count(impact_parts) > 0
}

# impact_parts are [order, text] pairs, so the clauses read in a fixed order.
impact_parts contains [1, sprintf("instance %s (%s, %s) %s", [input.resource.id, instance_type, instance_state, reachability])]

impact_parts contains [2, sprintf("the temporary credentials of %s are exposed to whoever controls it and must be treated as stolen", [instance_role])] if {
	verdict == "malicious"
}

impact_parts contains [3, "its CPU is being used to mine cryptocurrency at the account's expense"] if {
	count(miners) > 0
}

impact_parts contains [3, "it attacks other hosts from the account's addresses, which can get them blocklisted and draw abuse reports"] if {
	verdict == "malicious"
	outbound_brute_force
}

impact_parts contains [4, sprintf("it belongs to auto scaling group %s, which may replace or terminate it", [autoscaling_group])] if autoscaling_group

impact_parts contains [5, sprintf("it serves traffic behind %d load balancer target(s)", [count(load_balancing)])] if count(load_balancing) > 0

# ---------------------------------------------------------------------------
# Evidence from the host (triage)

host_evidence contains sprintf("triage: cryptocurrency miner running: %s", [lib.process_label(p)]) if {
	some p in miners
}

host_evidence contains sprintf("triage: reverse shell: %s holds an established connection to %s", [lib.process_label(pair[0]), lib.connection_label(pair[1])]) if {
	some pair in reverse_shells
}

host_evidence contains sprintf("triage: command line hands a shell to a socket: %s: %s", [lib.process_label(p), p.cmdline]) if {
	some p in lib.reverse_shell_commands(triage)
}

host_evidence contains sprintf("triage: shell run from a world-writable directory: %s", [lib.process_label(p)]) if {
	some p in lib.shells_from_writable_dirs(triage)
}

host_evidence contains sprintf("triage: program running from memory-backed %s: %s", [dir_of(lib.exe_path(p)), lib.process_label(p)]) if {
	some p in lib.programs_in_memory_dirs(triage)
}

host_evidence contains sprintf("triage: successful login as %s from %s, the finding's remote address, at %s", [l.user, l.from, object.get(l, "time", "an unknown time")]) if {
	some l in attacker_logins
}

host_evidence contains sprintf("triage: %s is logged in from %s, the finding's remote address (tty %s)", [u.name, u.from, object.get(u, "tty", "?")]) if {
	some u in lib.sessions_from(triage, lib.remote_ip)
}

# corroboration is the host confirming the finding: an open connection to
# its remote address proves the reported activity goes on, for activity the
# instance starts. It does not make the activity malicious by itself (an
# authorized scanner is connected to what it scans), and an inbound
# attacker's connection to sshd proves only that the attempts go on (see
# suspicious_evidence).
corroboration contains sprintf("triage: %s is still connected to the finding's remote address %s", [process_of(c), lib.connection_label(c)]) if {
	some c in attacker_connections
	not lib.direction == "INBOUND"
}

host_evidence contains sprintf("triage: cron entry of %s downloads and runs code: %s %s", [object.get(e, "user", "?"), object.get(e, "schedule", ""), e.command]) if {
	some e in lib.download_and_run_cron(triage)
}

host_evidence contains sprintf("triage: %s was changed at %s: a userland rootkit loads itself through it", [f.path, object.get(f, "mtime", "an unknown time")]) if {
	some f in lib.preload_files(triage)
}

host_evidence contains sprintf("triage: %s was changed at %s, during the finding's window: persistence added while the attack went on", [f.path, f.mtime]) if {
	some f in persistence_in_window
}

persistence_in_window := lib.persistence_in_window(triage)

# ---------------------------------------------------------------------------
# Evidence from the detector

# activity is what the finding's threat family did, as a clause after "the
# instance".
activity := a if {
	a := lib.threat_activity
} else := sprintf("was reported by GuardDuty: %s", [finding_title])

detector_evidence contains sprintf("GuardDuty: the instance %s%s", [activity, indicator_suffix]) if {
	telling
	lib.at_least("high")
}

detector_evidence contains sprintf("GuardDuty: %s is on threat list %s%s", [indicator, list, threat_names_suffix]) if {
	some list in lib.threat_lists
	not targeted
}

# A threat-listed party that only reached out to the instance (a known
# scanner probing a port, a known attacker brute-forcing SSH) shows who is
# attacking, not that the instance is compromised: the host's triage
# decides that.
reasons contains sprintf("GuardDuty: %s, which reached the instance from outside, is on threat list %s%s", [indicator, list, threat_names_suffix]) if {
	some list in lib.threat_lists
	targeted
}

detector_evidence contains sprintf("GuardDuty: the instance itself is brute-forcing %s on %s: it is being used to attack others", [brute_force_protocol, indicator]) if {
	outbound_brute_force
}

detector_evidence contains sprintf("GuardDuty Malware Protection found %s on the instance's volumes", [d]) if {
	malware_scan
	lib.at_least("medium")
	some d in lib.malware_detections
}

detector_evidence contains sprintf("GuardDuty Malware Protection: %s", [finding_title]) if {
	malware_scan
	lib.at_least("medium")
	count(lib.malware_detections) == 0
}

detector_evidence contains sprintf("GuardDuty: the instance is sweeping %s across many hosts: it is being used to attack others", [port_label]) if {
	outbound_scan
	lib.finding_threat == "PortSweep"
}

# ---------------------------------------------------------------------------
# Signs that need a responder but prove nothing alone

suspicious_evidence contains sprintf("GuardDuty: the instance %s%s, at %s severity", [activity, indicator_suffix, input.finding.severity]) if {
	telling
	not lib.at_least("high")
}

suspicious_evidence contains sprintf("GuardDuty: %s (%s) against the instance, which is reachable from the internet at %s", [finding_title, input.finding.type, public_ip]) if {
	lib.finding_purpose == "UnauthorizedAccess"
	lib.at_least("medium")
	not outbound_brute_force
	public_ip
}

suspicious_evidence contains sprintf("GuardDuty: %s (%s, %s severity)", [finding_title, input.finding.type, input.finding.severity]) if {
	lib.finding_purpose == "UnauthorizedAccess"
	lib.at_least("high")
	not outbound_brute_force
	not public_ip
}

suspicious_evidence contains sprintf("GuardDuty: %s brute force comes from %s, inside the network: another host may be compromised and moving laterally", [brute_force_protocol, lib.remote_ip]) if {
	brute_force
	lib.is_private_ip(lib.remote_ip)
}

suspicious_evidence contains sprintf("GuardDuty Malware Protection: %s (%s, %s severity)", [finding_title, d, input.finding.severity]) if {
	malware_scan
	not lib.at_least("medium")
	some d in lib.malware_detections
}

suspicious_evidence contains sprintf("GuardDuty Malware Protection found potentially unwanted software on the instance's volumes: %s", [d]) if {
	lib.finding_threat == "SuspiciousFile"
	some d in lib.malware_detections
}

suspicious_evidence contains sprintf("GuardDuty: the instance is scanning other hosts (%s)%s", [finding_title, indicator_suffix]) if {
	outbound_scan
	lib.finding_threat != "PortSweep"
}

# What the finding says but does not weigh: a probe of an exposed port, a
# lookup of a poorly reputed domain, an unusual DNS resolver or traffic
# pattern. Said in the reasons, so a notification reads as more than the
# finding's type.
reasons contains sprintf("GuardDuty: %s is reachable from the internet and was probed from %s%s; nothing in the finding shows a probe got further", [port_label, probe_source, country_suffix]) if {
	lib.finding_purpose == "Recon"
	startswith(lib.finding_threat, "PortProbe")
}

reasons contains sprintf("GuardDuty: the instance queried %s, a domain of poor reputation (%s)", [indicator, finding_title]) if {
	lib.finding_purpose == "Impact"
	endswith(lib.finding_threat, "DomainRequest.Reputation")
	not malicious_domain
}

reasons contains sprintf("GuardDuty: %s (%s); such traffic can hide command-and-control or exfiltration, but is not evidence of it alone", [finding_title, input.finding.type]) if {
	lib.finding_purpose in {"Behavior", "DefenseEvasion"}
}

suspicious_evidence contains sprintf("triage: program running from %s: %s", [dir_of(lib.exe_path(p)), lib.process_label(p)]) if {
	some p in lib.programs_in_tmp(triage)
}

suspicious_evidence contains sprintf("triage: %s runs an executable deleted since it started", [lib.process_label(p)]) if {
	some p in lib.deleted_executables(triage)
}

suspicious_evidence contains sprintf("triage: %s has an established connection to mining-pool port %s", [process_of(c), lib.connection_label(c)]) if {
	some c in lib.pool_connections(triage)
	count(miners) == 0
}

suspicious_evidence contains sprintf("triage: %s was changed at %s: check it for keys added by an intruder", [f.path, object.get(f, "mtime", "an unknown time")]) if {
	some f in lib.changed_authorized_keys(triage)
	not f in persistence_in_window
}

# ---------------------------------------------------------------------------
# Explanations

benign_evidence contains "the instance is tagged cordon:authorized-scanner = \"true\": it is an authorized scanner" if scanner_explains

benign_evidence contains sprintf("GuardDuty: %s (%s)", [finding_title, input.finding.type]) if scanner_explains

benign_evidence contains sprintf("GuardDuty: inbound %s brute force from %s against the instance; GuardDuty rates it %s because the instance was only the target", [brute_force_protocol, lib.remote_ip, input.finding.severity]) if {
	failed_brute_force
}

benign_evidence contains sprintf("triage: no successful login and no session from %s", [lib.remote_ip]) if {
	failed_brute_force
	triage
}

scanner_tagged if tags["cordon:authorized-scanner"] == "true"

# scanner_explains holds when an authorized scanner's finding is about the
# scanning itself. Malware, mining, malicious domains and what
# Malware Protection finds on its volumes are not explained by scanning,
# and host evidence is never explained away.
scanner_explains if {
	scanner_tagged
	not telling
	not lib.finding_purpose == "Execution"
	count(host_evidence) == 0
}

# high_fidelity holds for GuardDuty's high-fidelity threat purposes.
high_fidelity if lib.finding_purpose in lib.high_fidelity_purposes

# telling holds for detections that are malicious in themselves (at high
# severity): the high-fidelity families and lookups of malicious domains.
telling if high_fidelity

telling if malicious_domain

# malicious_domain holds for DNS lookups of domains GuardDuty knows serve
# mining or malware (Impact:EC2/BitcoinDomainRequest.Reputation,
# MaliciousDomainRequest.Reputation and .Custom): as telling as the
# high-fidelity families at high severity.
malicious_domain if {
	lib.finding_purpose == "Impact"
	lib.threat_family(lib.finding_threat) in {"BitcoinDomainRequest", "MaliciousDomainRequest"}
}

# malware_scan holds for Malware Protection for EC2's scan of the
# instance's volumes finding malware (Execution:EC2/MaliciousFile). Its
# severity is the worst threat's, so a low one found only grayware.
malware_scan if {
	lib.finding_purpose == "Execution"
	lib.finding_threat == "MaliciousFile"
}

# targeted holds when the instance was only the target of what the finding
# reports: an inbound connection or probe.
targeted if lib.direction == "INBOUND"

# outbound_scan holds for the instance scanning others: a sweep of one port
# across hosts (Impact:EC2/PortSweep) or a port scan of a host
# (Recon:EC2/Portscan). A compromised instance does it, and so does an
# authorized scanner, which the tag explains.
outbound_scan if lib.finding_threat in {"PortSweep", "Portscan"}

# port_label names the port a probe or sweep is about: "port 22 (SSH)".
port_label := sprintf("port %v", [input.finding.network.local_port]) if {
	input.finding.network.local_port
} else := sprintf("port %v", [input.finding.network.remote_port]) if {
	input.finding.network.remote_port
} else := "a port"

probe_source := ip if {
	ip := lib.remote_ip
} else := "the internet"

country_suffix := sprintf(" (%s)", [c]) if {
	c := input.finding.network.remote_country
	lib.non_empty_string(c)
} else := ""

# brute_force holds for SSH and RDP brute-force findings.
brute_force if endswith(lib.finding_threat, "BruteForce")

brute_force_protocol := trim_suffix(lib.finding_threat, "BruteForce")

# outbound_brute_force: the instance is the attacker (GuardDuty's resource
# role ACTOR), which it only is when someone else controls it.
outbound_brute_force if {
	brute_force
	lib.resource_role == "ACTOR"
}

# failed_brute_force: the instance was only the target of brute force from
# the internet, at low severity, and nothing else points to success. With
# triage, "nothing" is checked; without, the confidence says so.
failed_brute_force if {
	brute_force
	not outbound_brute_force
	not lib.at_least("medium")
	not lib.is_private_ip(lib.remote_ip)
	count(host_evidence) == 0
	count(suspicious_evidence) == 0
}

# ---------------------------------------------------------------------------
# Facts and details

triage := input.facts.triage if lib.usable("triage")

# What the triage shows, where more than one rule reads it. (A function's
# result is kept for the evaluation too: the sets read straight from lib
# where they are used are found once each as well.) All are undefined
# without usable triage.
miners := lib.miner_processes(triage)

reverse_shells := lib.reverse_shells(triage)

# The finding's remote party, as the triage sees it.
attacker_logins := lib.logins_from(triage, lib.remote_ip)

attacker_connections := lib.connections_to(triage, lib.remote_ip)

describe := input.facts.describe if lib.usable("describe")

# tags are the finding's, updated by the live description where there is one.
tags := object.union(input.resource.tags, describe.tags) if {
	describe.tags
} else := input.resource.tags

instance_label := sprintf("%s (%s)", [input.resource.id, tags.Name]) if {
	tags.Name != ""
} else := input.resource.id

instance_type := t if {
	t := describe.instance_type
} else := t if {
	t := input.resource.details.instance_type
} else := "unknown type"

instance_state := s if {
	s := describe.state
} else := s if {
	s := input.resource.details.instance_state
} else := "state unknown"

public_ip := ip if {
	ip := describe.public_ip
	lib.is_ip(ip)
} else := ip if {
	ip := input.resource.details.public_ip
	lib.is_ip(ip)
}

reachability := sprintf("is reachable from the internet at %s", [public_ip]) if {
	public_ip
} else := "has no public address"

# instance_role names the role whose credentials the instance holds.
instance_role := sprintf("its role %s", [r]) if {
	r := describe.iam_instance_profile.role_name
	r != ""
} else := sprintf("the role of its instance profile %s", [lib.basename(input.resource.details.iam_instance_profile_arn)])

autoscaling_group := g if {
	g := describe.autoscaling_group
	g != ""
} else := g if {
	g := tags["aws:autoscaling:groupName"]
	g != ""
}

load_balancing := {x | some x in describe.target_groups} | {x | some x in describe.load_balancers}

# finding_title is the finding's title as a clause: no final period.
finding_title := t if {
	t := trim_suffix(trim_space(input.finding.title), ".")
	t != ""
} else := input.finding.type

# indicator is what the instance talked to, for reasons.
indicator := sprintf("domain %s", [lib.domain]) if {
	lib.domain
} else := sprintf("address %s", [lib.remote_ip]) if {
	lib.remote_ip
} else := "the remote party"

indicator_suffix := sprintf(" (%s)", [indicator]) if {
	indicator != "the remote party"
} else := ""

threat_names_suffix := sprintf(" (%s)", [concat(", ", lib.threat_names)]) if {
	count(lib.threat_names) > 0
} else := ""

# first_attacker_login is the earliest successful login from the remote address.
first_attacker_login := sort([[object.get(l, "time", ""), l] | some l in attacker_logins])[0][1]

# process_of names the process holding a connection, when triage knows it.
process_of(c) := labels[0] if {
	labels := [lib.process_label(p) | some p in triage.processes; p.pid == c.pid]
	count(labels) > 0
} else := sprintf("pid %v", [object.get(c, "pid", "?")])

dir_of(path) := concat("/", array.slice(parts, 0, count(parts) - 1)) if parts := split(path, "/")

sort_by_pid(ps) := [p | some [_, p] in sort([[p.pid, p] | some p in ps])]
