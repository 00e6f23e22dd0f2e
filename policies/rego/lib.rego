# Package cordon.lib holds what the starter verdict and response policies
# share: reading the finding (its type, its raw detector JSON in any of the
# spellings cordon accepts), telling usable facts from missing ones, and
# recognising what host triage shows.
#
# Everything here is a rule over input or a function over a facts object,
# so a policy names its own collectors ("triage", "describe") and the
# helpers stay independent of how a configuration names them.
package cordon.lib

# ---------------------------------------------------------------------------
# Severity

# severity_rank orders the normalized severity labels (cordon's docs/findings.md).
severity_rank := {"informational": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}

# at_least(label) holds when the finding is label or more severe.
at_least(label) if severity_rank[input.finding.severity] >= severity_rank[label]

# ---------------------------------------------------------------------------
# Finding types
#
# GuardDuty names a finding ThreatPurpose:ResourceTypeAffected/ThreatFamilyName
# ("Backdoor:EC2/C&CActivity.B!DNS"); Security Hub carries the same type as
# "TTPs/Command and Control/Backdoor:EC2-C&CActivity.B!DNS". These functions
# accept both, and are undefined for types of neither shape.

# type_parts(t) takes finding type t apart in one match, at its first
# colon and at the first "/" or "-" after that: [the whole type, what
# precedes the purpose ("TTPs/Command and Control/"), the purpose, the
# target kind, the threat name], "" for a part that is missing. It is
# undefined for a type without a colon.
type_parts(t) := regex.find_all_string_submatch_n(`^(?s)([^:]*/)?([^/:]*):([^/-]*)(?:[/-](.*))?$`, t, 1)[0]

# purpose(t) is the threat purpose of finding type t: "Backdoor".
purpose(t) := p if {
	[_, _, p, _, _] := type_parts(t)
	p != ""
}

# target_kind(t) is the kind of resource type t is about: "EC2", "IAMUser",
# "S3", "Runtime".
target_kind(t) := k if {
	[_, _, _, k, _] := type_parts(t)
	k != ""
	not startswith(t, ":")
}

# threat_name(t) is the threat family and artifact: "C&CActivity.B!DNS".
threat_name(t) := n if {
	[_, _, _, k, n] := type_parts(t)
	n != ""
	k != ""
	not startswith(t, ":")
}

# The finding's own type, taken apart once.
finding_purpose := purpose(input.finding.type)

finding_target_kind := target_kind(input.finding.type)

finding_threat := threat_name(input.finding.type)

# high_fidelity_purposes are the threat purposes GuardDuty raises only for
# activity that is itself malicious (malware beaconing, mining, trojans), as
# opposed to access patterns that need context to judge.
high_fidelity_purposes := {"Backdoor", "CryptoCurrency", "Trojan"}

# threat_activities describe GuardDuty's high-fidelity threat families (on
# an instance, a container or a Lambda function), by the family name that
# starts the threat name ("C&CActivity" of "C&CActivity.B!DNS"), as a
# clause after the subject ("the instance …").
threat_activities := {
	"C&CActivity": "contacted a known command-and-control server",
	"BitcoinTool": "is communicating with a cryptocurrency mining pool or the Bitcoin network",
	"DGADomainRequest": "queried algorithmically generated domains, as malware does to find its command-and-control server",
	"DNSDataExfiltration": "is exfiltrating data through DNS queries",
	"BlackholeTraffic": "tried to reach a black-holed address used by malware",
	"DropPoint": "contacted a known drop point for stolen credentials and data",
	"DenialOfService": "is taking part in a denial-of-service attack",
	"Spambot": "is sending spam",
	"DriveBySourceTraffic": "contacted a host known for drive-by downloads",
	"PhishingDomainRequest": "queried a phishing domain",
	"BitcoinDomainRequest": "queried a domain of a cryptocurrency mining pool or Bitcoin service",
	"MaliciousDomainRequest": "queried a domain known to be malicious",
}

# dns_threat_activities say the same of the !DNS variants, where GuardDuty
# saw the resource resolve the domain, not connect to it.
dns_threat_activities := {
	"C&CActivity": "queried a domain of a known command-and-control server",
	"BitcoinTool": "queried a domain of a cryptocurrency mining pool or Bitcoin service",
	"BlackholeTraffic": "queried a black-holed domain used by malware",
	"DropPoint": "queried a domain of a known drop point for stolen credentials and data",
	"DriveBySourceTraffic": "queried a domain known for drive-by downloads",
}

# threat_family(t) is the family that starts threat name t: "C&CActivity"
# of "C&CActivity.B!DNS", "MaliciousDomainRequest" of
# "MaliciousDomainRequest.Reputation".
threat_family(t) := split(split(t, ".")[0], "!")[0]

# threat_activity is what the finding's threat family did, as a clause;
# undefined for a family not described above.
threat_activity := a if {
	endswith(finding_threat, "!DNS")
	a := dns_threat_activities[threat_family(finding_threat)]
} else := a if {
	a := threat_activities[threat_family(finding_threat)]
}

# ---------------------------------------------------------------------------
# Where the finding comes from
#
# GuardDuty's own fields (its service block, its evidence, the
# "aws/guardduty/…" ProductFields Security Hub flattens them into) are
# GuardDuty's word only in a finding GuardDuty produced. Any product may
# import a Security Hub finding that says "GuardDuty" in ProductName and
# carries aws/guardduty ProductFields naming a threat list; what it cannot
# choose is ProductArn, which Security Hub checks, and only AWS's own
# GuardDuty integration has arn:<partition>:securityhub:<region>::product/aws/guardduty.
# So every rule below that reads GuardDuty's fields from raw also requires
# from_guardduty, and a forged finding is judged on what it is: another
# product's claim, without GuardDuty's evidence.

# from_guardduty holds for a finding proven to be GuardDuty's: read from
# GuardDuty itself (GetFindings, its EventBridge events), or from Security
# Hub as ASFF or OCSF with AWS's own GuardDuty product ARN. It is the rule
# cordon's normalization follows too, so policies and cordon agree.
from_guardduty if input.finding.source == "guardduty"

from_guardduty if {
	input.finding.source == "securityhub"
	guardduty_product_arn(input.finding.raw.ProductArn, {"product"})
}

from_guardduty if {
	input.finding.source == "ocsf"
	guardduty_product_arn(input.finding.raw.metadata.product.uid, {"product", "productv2"})
}

# guardduty_product_arn(arn, kinds) holds when arn is exactly AWS's own
# GuardDuty product in Security Hub: arn:<partition>:securityhub:<region>::<kind>/aws/guardduty,
# kind one of kinds ("productv2" is Security Hub's OCSF form), with no
# account, a known partition and a region of that partition. A custom
# product's ARN names an account (…:111122223333:product/111122223333/default).
guardduty_product_arn(arn, kinds) if {
	is_string(arn)
	[_, partition, region, kind] := regex.find_all_string_submatch_n(guardduty_product_arn_pattern, arn, 1)[0]
	kind in kinds
	region_of_partition(partition, region)
}

guardduty_product_arn_pattern := `^arn:(aws|aws-cn|aws-us-gov):securityhub:([a-z]+(?:-[a-z]+)+-[0-9]{1,2})::(product|productv2)/aws/guardduty$`

# region_of_partition(partition, region): China's regions are only in
# aws-cn, GovCloud's only in aws-us-gov, and neither in aws.
region_of_partition("aws", region) if {
	not startswith(region, "cn-")
	not startswith(region, "us-gov-")
}

region_of_partition("aws-cn", region) if startswith(region, "cn-")

region_of_partition("aws-us-gov", region) if startswith(region, "us-gov-")

# ---------------------------------------------------------------------------
# The raw finding
#
# input.finding.raw is the detector's JSON as it arrived: GetFindings and
# EventBridge spell GuardDuty's keys in camelCase, boto3 exports in
# PascalCase, and Security Hub flattens GuardDuty's service block into
# ProductFields. Every path into raw is written out in full, in each
# spelling, never looked up with a variable key: the engine builds only the
# parts of raw that some policy names, and nothing here walks the whole
# document.

# field(obj, key) reads key (given in camelCase) from obj in either
# spelling; for the elements of a raw list, once the list is found.
field(obj, key) := v if {
	v := obj[key]
} else := v if {
	v := obj[pascal_case(key)]
}

pascal_case(key) := concat("", [upper(substring(key, 0, 1)), substring(key, 1, -1)])

# field_of(obj, camel, pascal) is field(obj, camel) with the PascalCase
# spelling written out, as the helpers below call it: no key is worked out
# during an evaluation.
field_of(obj, camel, pascal) := v if {
	v := obj[camel]
} else := obj[pascal]

# product_fields are Security Hub's flattened detector fields, read only
# from GuardDuty's own findings: another product's "aws/guardduty/…" keys
# are its own words.
product_fields := input.finding.raw.ProductFields if from_guardduty

# gd_product_field(path) reads a flattened GuardDuty field from Security Hub:
# gd_product_field("resourceRole") is "aws/guardduty/service/resourceRole".
gd_product_field(path) := v if {
	fields := product_fields
	v := fields[concat("/", ["aws/guardduty/service", path])]
}

threat_intelligence_details := d if {
	from_guardduty
	d := input.finding.raw.service.evidence.threatIntelligenceDetails
} else := d if {
	from_guardduty
	d := input.finding.raw.Service.Evidence.ThreatIntelligenceDetails
}

# resource_role is TARGET when the resource was acted on, ACTOR when it acted.
resource_role := upper(r) if {
	from_guardduty
	r := input.finding.raw.service.resourceRole
	non_empty_string(r)
} else := upper(r) if {
	from_guardduty
	r := input.finding.raw.Service.ResourceRole
	non_empty_string(r)
} else := upper(r) if {
	r := gd_product_field("resourceRole")
	non_empty_string(r)
}

# api_name is the API a finding about an API call names ("ListBuckets").
api_name := n if {
	from_guardduty
	n := input.finding.raw.service.action.awsApiCallAction.api
	non_empty_string(n)
} else := n if {
	from_guardduty
	n := input.finding.raw.Service.Action.AwsApiCallAction.Api
	non_empty_string(n)
} else := n if {
	n := gd_product_field("action/awsApiCallAction/api")
	non_empty_string(n)
}

# api_error_code is the error the API call got ("AccessDenied"); undefined
# when the call succeeded.
api_error_code := c if {
	from_guardduty
	c := input.finding.raw.service.action.awsApiCallAction.errorCode
	non_empty_string(c)
} else := c if {
	from_guardduty
	c := input.finding.raw.Service.Action.AwsApiCallAction.ErrorCode
	non_empty_string(c)
} else := c if {
	c := gd_product_field("action/awsApiCallAction/errorCode")
	non_empty_string(c)
}

# sample holds for GuardDuty's generated sample findings, and for a Security
# Hub finding marked Sample. It is read from any product: a claim to be a
# sample only holds cordon back, from acting on that finding alone. The
# normalized finding says so (finding.sample, wherever the product marks
# it); the raw marks are read too, for inputs built without it.
sample if input.finding.sample == true

sample if input.finding.raw.service.additionalInfo.sample == true

sample if input.finding.raw.Service.AdditionalInfo.Sample == true

sample if input.finding.raw.Sample == true

# threat_lists are the threat intelligence lists that named the finding's
# remote address or domain (GuardDuty's evidence, older findings'
# additionalInfo, or Security Hub's flattened fields).
threat_lists contains name if {
	some detail in threat_intelligence_details
	name := field_of(detail, "threatListName", "ThreatListName")
	non_empty_string(name)
}

threat_lists contains name if {
	from_guardduty
	name := input.finding.raw.service.additionalInfo.threatListName
	non_empty_string(name)
}

threat_lists contains name if {
	from_guardduty
	name := input.finding.raw.Service.AdditionalInfo.ThreatListName
	non_empty_string(name)
}

threat_lists contains name if {
	some key, name in product_fields
	startswith(key, "aws/guardduty/service/")
	endswith(key, "threatListName")
	non_empty_string(name)
}

# threat_names are the threats those lists associate with it ("Cobalt Strike").
threat_names contains name if {
	some detail in threat_intelligence_details
	some name in field_of(detail, "threatNames", "ThreatNames")
	non_empty_string(name)
}

threat_names contains name if {
	from_guardduty
	name := input.finding.raw.service.additionalInfo.threatName
	non_empty_string(name)
}

threat_names contains name if {
	from_guardduty
	name := input.finding.raw.Service.AdditionalInfo.ThreatName
	non_empty_string(name)
}

threat_names contains name if {
	some key, name in product_fields
	startswith(key, "aws/guardduty/service/")
	contains(key, "threatName")
	not endswith(key, "threatListName")
	non_empty_string(name)
}

non_empty_string(s) if {
	is_string(s)
	s != ""
}

# ---------------------------------------------------------------------------
# Network

# remote_ip is the address of the other party: the normalized network or
# actor address, else the raw finding's when it is GuardDuty's (as domain
# and direction below).
remote_ip := ip if {
	ip := input.finding.network.remote_ip
	non_empty_string(ip)
} else := ip if {
	ip := input.finding.actor.ip
	non_empty_string(ip)
} else := ip if {
	from_guardduty
	ip := input.finding.raw.service.action.networkConnectionAction.remoteIpDetails.ipAddressV4
	non_empty_string(ip)
} else := ip if {
	from_guardduty
	ip := input.finding.raw.Service.Action.NetworkConnectionAction.RemoteIpDetails.IpAddressV4
	non_empty_string(ip)
} else := ip if {
	from_guardduty
	ip := input.finding.raw.service.action.awsApiCallAction.remoteIpDetails.ipAddressV4
	non_empty_string(ip)
} else := ip if {
	from_guardduty
	ip := input.finding.raw.Service.Action.AwsApiCallAction.RemoteIpDetails.IpAddressV4
	non_empty_string(ip)
}

# domain is the domain name the finding is about, if any.
domain := d if {
	d := input.finding.network.domain
	non_empty_string(d)
} else := d if {
	from_guardduty
	d := input.finding.raw.service.action.dnsRequestAction.domain
	non_empty_string(d)
} else := d if {
	from_guardduty
	d := input.finding.raw.Service.Action.DnsRequestAction.Domain
	non_empty_string(d)
}

# direction is INBOUND or OUTBOUND, where the finding says.
direction := upper(d) if {
	d := input.finding.network.direction
	non_empty_string(d)
} else := upper(d) if {
	from_guardduty
	d := input.finding.raw.service.action.networkConnectionAction.connectionDirection
	non_empty_string(d)
} else := upper(d) if {
	from_guardduty
	d := input.finding.raw.Service.Action.NetworkConnectionAction.ConnectionDirection
	non_empty_string(d)
}

# private_networks are the ranges an address from inside the organisation
# comes from: RFC 1918, carrier-grade NAT, loopback, link-local, ULA.
private_networks := [
	"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
	"127.0.0.0/8", "169.254.0.0/16", "fc00::/7", "::1/128", "fe80::/10",
]

# is_ip(s) holds for an IPv4 or IPv6 address (GuardDuty's samples put
# placeholders such as "GeneratedFindingIP" where addresses go, and the
# net built-ins fail on those). A /32 prefix is valid for both families.
is_ip(s) if {
	is_string(s)
	net.cidr_is_valid(concat("/", [s, "32"]))
}

is_private_ip(ip) if {
	is_ip(ip)
	some cidr in private_networks
	net.cidr_contains(cidr, ip)
}

# ---------------------------------------------------------------------------
# Runtime Monitoring and Malware Protection (GuardDuty's own findings only)

# runtime_process_raw is the process GuardDuty Runtime Monitoring saw do
# what the finding reports (service.runtimeDetails.process).
runtime_process_raw := p if {
	from_guardduty
	p := input.finding.raw.service.runtimeDetails.process
} else := p if {
	from_guardduty
	p := input.finding.raw.Service.RuntimeDetails.Process
}

# runtime_process is that process in the shape of a triage process (name,
# pid, user, exe, sha256), so process_label names it; empty when the
# finding names none.
runtime_process := {k: v |
	raw := runtime_process_raw
	some [k, camel, pascal] in [
		["name", "name", "Name"], ["pid", "pid", "Pid"], ["user", "user", "User"],
		["exe", "executablePath", "ExecutablePath"], ["sha256", "executableSha256", "ExecutableSha256"],
	]
	v := field_of(raw, camel, pascal)
}

# runtime_context is what else the agent recorded about the detection
# (service.runtimeDetails.context): the command line, the tool, the file
# or mount involved.
runtime_context := c if {
	from_guardduty
	c := input.finding.raw.service.runtimeDetails.context
} else := c if {
	from_guardduty
	c := input.finding.raw.Service.RuntimeDetails.Context
}

# runtime_context_facts are [label, value] pairs of the context worth a
# reason, in a fixed order.
runtime_context_facts := [[label, v] |
	ctx := runtime_context
	some [label, camel, pascal] in [
		["the command line", "commandLineExample", "CommandLineExample"],
		["the tool", "toolName", "ToolName"],
		["the script", "scriptPath", "ScriptPath"],
		["the file", "threatFilePath", "ThreatFilePath"],
		["the kernel module", "moduleName", "ModuleName"],
		["the library loaded", "libraryPath", "LibraryPath"],
		["the host path mounted", "mountSource", "MountSource"],
		["the socket", "socketPath", "SocketPath"],
		["the release agent", "releaseAgentPath", "ReleaseAgentPath"],
		["the runc binary", "runcBinaryPath", "RuncBinaryPath"],
		["the process that wrote the file", "modifyingProcess", "ModifyingProcess"],
	]
	raw := field_of(ctx, camel, pascal)
	v := context_value(raw)
]

# context_value is a context field as text: a string as it is, a process
# by its executable's path.
context_value(v) := v if {
	non_empty_string(v)
} else := p if {
	p := field_of(v, "executablePath", "ExecutablePath")
	non_empty_string(p)
}

# ebs_threat_names are the threats Malware Protection for EC2 found on the
# scanned volumes (service.ebsVolumeScanDetails.scanDetections
# .threatDetectedByName.threatNames: name, severity, filePaths).
ebs_threat_names := t if {
	from_guardduty
	t := input.finding.raw.service.ebsVolumeScanDetails.scanDetections.threatDetectedByName.threatNames
} else := t if {
	from_guardduty
	t := input.finding.raw.Service.EbsVolumeScanDetails.ScanDetections.ThreatDetectedByName.ThreatNames
}

# s3_scan_threats are the threats Malware Protection for S3 found in the
# object (service.malwareScanDetails.threats: name, itemPaths).
s3_scan_threats := t if {
	from_guardduty
	t := input.finding.raw.service.malwareScanDetails.threats
} else := t if {
	from_guardduty
	t := input.finding.raw.Service.MalwareScanDetails.Threats
}

# malware_detections say what a Malware Protection scan found: "NAME in
# PATH, PATH" (the paths sorted), or the name alone.
malware_detections contains detection(name, paths) if {
	some t in ebs_threat_names
	name := field_of(t, "name", "Name")
	non_empty_string(name)
	paths := sort({p |
		some f in field_of(t, "filePaths", "FilePaths")
		p := field_of(f, "filePath", "FilePath")
		non_empty_string(p)
	})
}

malware_detections contains detection(name, paths) if {
	some t in s3_scan_threats
	name := field_of(t, "name", "Name")
	non_empty_string(name)
	paths := sort({p |
		some i in field_of(t, "itemPaths", "ItemPaths")
		p := field_of(i, "nestedItemPath", "NestedItemPath")
		non_empty_string(p)
	})
}

detection(name, paths) := sprintf("%s in %s", [name, concat(", ", paths)]) if {
	count(paths) > 0
} else := name

# ---------------------------------------------------------------------------
# Facts

# usable(name) holds when collector name gathered facts without an error.
usable(name) if {
	facts := input.facts[name]
	count(facts) > 0
	not facts.error
}

# gap(name) says why the facts of collector name cannot be used, for a
# reason that treats the missing evidence explicitly; it is undefined when
# they can.
gap(name) := sprintf("collector %q failed: %s", [name, msg]) if {
	msg := input.facts[name].error
} else := sprintf("collector %q gathered nothing", [name]) if {
	not usable(name)
}

# ---------------------------------------------------------------------------
# Host triage (facts of an aws_ssm_triage collector, passed in as t)

shells := {"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "csh", "tcsh", "fish", "busybox"}

# shell_exe matches the path of a shell's executable: the names above as
# one pattern, built once per evaluation.
shell_exe := concat("", ["(^|/)(", concat("|", shells), ")( \\(deleted\\))?$"])

# writable_dirs match paths in world-writable directories: legitimate
# software does not run from them, intruders' droppers do.
writable_dirs := `^/(tmp|var/tmp|dev/shm|run/shm)/`

# memory_dirs match the tmpfs ones, used to leave nothing on disk.
memory_dirs := `^/(dev|run)/shm/`

# miner_names are the process names of common cryptocurrency miners and of
# the malware families that install them.
miner_names := {
	"xmrig", "xmr-stak", "xmr-stak-cpu", "xmrig-notls", "minerd", "cpuminer",
	"cpuminer-multi", "ccminer", "cgminer", "bfgminer", "ethminer", "nbminer",
	"t-rex", "lolminer", "phoenixminer", "nanominer", "teamredminer",
	"srbminer-multi", "gminer", "kdevtmpfsi", "kinsing",
}

# miner_name and miner_exe match a miner's process name and the file name
# its executable's path ends in (deleted or not), whatever the case: the
# names above as one pattern each, built once per evaluation, so a process
# is tested with one regex.match instead of being lowered, split and looked
# up. The names are plain words: they need no escaping.
miner_name := concat("", ["^(?i:", concat("|", miner_names), ")$"])

miner_exe := concat("", ["(^|/)(?i:", concat("|", miner_names), ")( \\(deleted\\))?$"])

# miner_args match miner command lines whatever the binary is renamed to.
miner_args := `(?i)stratum\+(tcp|ssl|tls)://|--donate-level|--cpu-priority|\b(cryptonight|randomx|rx/0)\b`

# reverse_shell_args match command lines that hand a shell to a socket.
reverse_shell_args := `/dev/(tcp|udp)/|\bn(c|cat|etcat)\b.*\s-[ec]\s|\bsocat\b.*\bexec:|pty\.spawn\(|\bsh -i\b|\bbash -i\b`

# download_and_run matches cron commands that fetch a script and run it, or
# run a program from a world-writable directory (a path in command
# position: "find /tmp -mtime +7 -delete" is housekeeping, not this).
download_and_run := `(curl|wget)[^|;]*\|\s*(ba|da|z|k)?sh\b|(curl|wget)[^;]*;\s*(ba|da|z|k)?sh\b|(^|[;&|]\s*)(/tmp|/var/tmp|/dev/shm)/`

# mining_pool_ports are the ports pools commonly serve stratum on.
mining_pool_ports := {3333, 3334, 4444, 5555, 5556, 7777, 8888, 9999, 14433, 14444, 45560, 45700}

basename(path) := parts[count(parts) - 1] if {
	is_string(path)
	parts := split(path, "/")
}

# exe_path is where a process runs from, without the " (deleted)" the
# kernel appends once the file is gone.
exe_path(p) := trim_suffix(p.exe, " (deleted)")

# is_shell(p) holds for a shell, known by its name or by the file name its
# executable's path ends in (deleted or not).
is_shell(p) if p.name in shells

is_shell(p) if regex.match(shell_exe, p.exe)

# process_label(p) names a process for a reason: "xmrig (pid 4242, user
# www-data, /tmp/.x/xmrig)".
process_label(p) := sprintf("%s (pid %v, user %s, %s)", [
	object.get(p, "name", "?"),
	object.get(p, "pid", "?"),
	object.get(p, "user", "?"),
	object.get(p, "exe", "unknown executable"),
])

# connection_label(c) names a connection's remote end: "203.0.113.50:4444".
connection_label(c) := sprintf("%s:%v", [c.remote_ip, object.get(c, "remote_port", "?")])

# not_remote are the remote addresses of a connection that leads nowhere
# else: none, loopback, or any address.
not_remote := {"", "127.0.0.1", "::1", "0.0.0.0", "::", "*"}

# The sets below read the patterns and names they test with into a local
# first: a rule named inside a comprehension's body is looked up again for
# every element.

# established(t) are t's established connections to a remote address.
established(t) := {c |
	nowhere := not_remote
	some c in t.connections
	upper(c.state) == "ESTABLISHED"
	is_string(c.remote_ip)
	not c.remote_ip in nowhere
}

# miner_processes(t) are the cryptocurrency miners running, known by their
# name, their executable's name or their command line. (Three passes over
# the processes, each with one test, cost less than a function with three
# bodies called for each process.)
miner_processes(t) := (by_name | by_exe) | by_args if {
	[name, exe, args] := [miner_name, miner_exe, miner_args]
	by_name := {p | some p in t.processes; regex.match(name, p.name)}
	by_exe := {p | some p in t.processes; regex.match(exe, p.exe)}
	by_args := {p | some p in t.processes; regex.match(args, p.cmdline)}
}

# A function's result is kept for the rest of the evaluation, for the same
# arguments: the three sets below that start from
# processes_in_writable_dirs(t) share its one pass over the processes,
# whose single test drops most of them.

# processes_in_writable_dirs(t) are the processes run from a world-writable
# directory. A path's directory does not depend on a " (deleted)" suffix,
# so the executable's path is tested as it is.
processes_in_writable_dirs(t) := {p |
	dirs := writable_dirs
	some p in t.processes
	regex.match(dirs, p.exe)
}

# shells_from_writable_dirs(t) are shells started from a world-writable
# directory: a copied shell is how droppers hide an interactive session.
shells_from_writable_dirs(t) := {p |
	some p in processes_in_writable_dirs(t)
	is_shell(p)
}

# programs_in_memory_dirs(t) are non-shell programs running from tmpfs
# (memory_dirs are world-writable too).
programs_in_memory_dirs(t) := {p |
	some p in processes_in_writable_dirs(t)
	regex.match(memory_dirs, p.exe)
	not is_shell(p)
}

# programs_in_tmp(t) are other programs running from /tmp or /var/tmp: odd,
# but installers and build tools do it too.
programs_in_tmp(t) := {p |
	some p in processes_in_writable_dirs(t)
	not regex.match(memory_dirs, p.exe)
	not is_shell(p)
	not p in miner_processes(t)
}

# deleted_executables(t) are processes whose executable was removed after
# they started, to hide it (package upgrades do it to daemons too).
deleted_executables(t) := {p |
	some p in t.processes
	endswith(p.exe, " (deleted)")
}

# reverse_shells(t) are pairs [process, connection] of a shell process that
# itself holds an established connection to a remote address. A login shell
# talks to its terminal, never to a socket; a shell on a socket is a
# reverse shell. Connections are indexed by pid first, so this is linear.
reverse_shells(t) := {[p, c] |
	conns := established(t)
	pids := {x.pid | some x in conns}
	some p in t.processes
	p.pid in pids
	is_shell(p)
	some c in conns
	c.pid == p.pid
}

# reverse_shell_commands(t) are processes whose command line hands a shell
# to a socket (bash -i >& /dev/tcp/…, nc -e /bin/sh …).
reverse_shell_commands(t) := {p |
	args := reverse_shell_args
	some p in t.processes
	regex.match(args, p.cmdline)
}

# connections_to(t, ip) are the established connections to ip.
connections_to(t, ip) := {c |
	some c in established(t)
	c.remote_ip == ip
}

# pool_connections(t) are established connections to a mining-pool port.
pool_connections(t) := {c |
	ports := mining_pool_ports
	some c in established(t)
	c.remote_port in ports
}

# logins_from(t, ip) are successful logins from ip.
logins_from(t, ip) := {l |
	some l in t.logins
	l.from == ip
	l.success == true
}

# sessions_from(t, ip) are users logged in from ip right now.
sessions_from(t, ip) := {u |
	some u in t.users
	u.from == ip
}

# download_and_run_cron(t) are cron entries that fetch and run code or run
# it from a world-writable directory: the usual persistence of miners.
download_and_run_cron(t) := {e |
	pattern := download_and_run
	some e in t.cron
	regex.match(pattern, e.command)
}

# preload_files(t) are recently changed /etc/ld.so.preload files, which
# userland rootkits use to load themselves into every process.
preload_files(t) := {f |
	some f in t.files
	f.path == "/etc/ld.so.preload"
}

# changed_authorized_keys(t) are recently changed authorized_keys files.
changed_authorized_keys(t) := {f |
	some f in t.files
	endswith(f.path, "/.ssh/authorized_keys")
}

# persistence_paths match the files an intruder changes to come back: SSH
# keys, crontabs, systemd units and timers, shell start-up files of root.
persistence_paths := `(/\.ssh/authorized_keys2?$|^/etc/crontab$|^/etc/cron\.(d|hourly|daily|weekly|monthly)/|^/var/spool/cron/|^/etc/systemd/system/.*\.(service|timer)$|^/root/\.(bashrc|profile|bash_profile)$)`

# window_margin_ns widens the finding's window on both sides: GuardDuty's
# first sighting trails the activity it reports, and an intruder's
# persistence often follows it.
window_margin_ns := 3600000000000

# finding_window is [start, end] in nanoseconds: from a margin before the
# finding was first seen (created_at) to a margin after it was last seen
# (updated_at, else created_at). Undefined when the finding has no time.
finding_window := [start, end] if {
	first := time_ns(input.finding.created_at)
	last := time_ns(object.get(input.finding, "updated_at", input.finding.created_at))
	start := first - window_margin_ns
	end := last + window_margin_ns
}

# in_finding_window(ts) holds for an RFC 3339 time within finding_window.
in_finding_window(ts) if {
	t := time_ns(ts)
	t >= finding_window[0]
	t <= finding_window[1]
}

# time_ns(ts) is an RFC 3339 time in nanoseconds, undefined for anything
# else: facts come from hosts and logs, and a malformed time must not make
# the whole evaluation fail.
time_ns(ts) := time.parse_rfc3339_ns(ts) if {
	is_string(ts)
	regex.match(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)$`, ts)
}

# persistence_in_window(t) are persistence files (keys, cron, units)
# changed during the finding's window: access the intruder added while the
# attack went on.
persistence_in_window(t) := {f |
	pattern := persistence_paths
	some f in t.files
	regex.match(pattern, f.path)
	in_finding_window(f.mtime)
}

# ---------------------------------------------------------------------------
# CloudTrail (facts of an aws_cloudtrail_events collector, passed in as ct)

# sensitive_api_calls are calls an intruder makes to stay (persistence),
# to get more (privilege escalation), or to hide (defense evasion).
sensitive_api_calls := {
	"CreateUser", "CreateAccessKey", "CreateLoginProfile", "UpdateLoginProfile",
	"AttachUserPolicy", "AttachRolePolicy", "AttachGroupPolicy", "PutUserPolicy",
	"PutRolePolicy", "PutGroupPolicy", "CreatePolicyVersion", "SetDefaultPolicyVersion",
	"AddUserToGroup", "UpdateAssumeRolePolicy", "CreateRole",
	"StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors",
	"DeleteDetector", "DisassociateFromMasterAccount", "UpdateDetector",
	"DeleteFlowLogs", "DisableSecurityHub", "DeleteConfigurationRecorder",
}

# public_access_calls change who can read a bucket.
public_access_calls := {
	"PutBucketPolicy", "PutBucketAcl", "PutObjectAcl", "DeleteBucketPolicy",
	"PutBucketPublicAccessBlock", "DeleteBucketPublicAccessBlock",
	"PutAccountPublicAccessBlock", "DeleteAccountPublicAccessBlock",
}

# network_of(ip) is the /24 of an IPv4 address, as CIDR: the granularity
# of "the same network" for usual-network checks. An IPv6 address is its
# own network (its text form does not give its /48 without expansion,
# which Rego lacks).
network_of(ip) := sprintf("%s.0/24", [concat(".", array.slice(split(ip, "."), 0, 3))]) if {
	not contains(ip, ":")
}

network_of(ip) := sprintf("%s/128", [ip]) if {
	contains(ip, ":")
}

# events_by(ct, key, ip) are the events made with access key key from ip;
# an empty ip matches any address.
events_by(ct, key, "") := {e |
	some e in ct.events
	e.access_key_id == key
}

events_by(ct, key, ip) := {e |
	some e in ct.events
	e.access_key_id == key
	e.source_ip == ip
} if ip != ""

# succeeded(e) holds for an event without an error code.
succeeded(e) if object.get(e, "error_code", "") in {"", false}

# ---------------------------------------------------------------------------
# Responses and reports

# decimal(x) formats a confidence with two decimals ("0.90", "1.00"), which
# sprintf's %f does not do for a number without a fraction: the hundredths
# as an integer of at least three digits, with a point before the last two
# (only the one multiplication and rounding: OPA's arithmetic on fractions
# is costly).
decimal(x) := regex.replace(sprintf("%03d", [round(x * 100)]), `(\d\d)$`, ".$1")

# allowed(action) holds when the matched rule lists action: a response
# naming any other is an error for the whole investigation.
allowed(action) if action in input.rule.actions

# long_term_key(r) holds for an access key resource cordon can disable: not
# a temporary STS key (ASIA…, which only its role's sessions revoke), nor a
# root user's (which only someone signed in as root can rotate).
long_term_key(r) if {
	r.type == "aws_iam_access_key"
	not startswith(r.id, "ASIA")
	not r.details.user_type == "Root"
}

# finding_keys are the access keys the finding names, finding_principals
# the IAM users and roles: the credentials a response may contain.
finding_keys := [r | some r in input.finding.resources; r.type == "aws_iam_access_key"]

finding_principals := [r | some r in input.finding.resources; r.type in {"aws_iam_user", "aws_iam_role"}]
