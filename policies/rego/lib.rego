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

# severity_rank orders the normalized severity labels (SPEC §3).
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

# purpose(t) is the threat purpose of finding type t: "Backdoor".
purpose(t) := p if {
	i := indexof(t, ":")
	i > 0
	segments := split(substring(t, 0, i), "/")
	p := segments[count(segments) - 1]
	p != ""
}

# target_kind(t) is the kind of resource type t is about: "EC2", "IAMUser",
# "S3", "Runtime".
target_kind(t) := k if {
	k := split(split(after_purpose(t), "/")[0], "-")[0]
	k != ""
}

# threat_name(t) is the threat family and artifact: "C&CActivity.B!DNS".
threat_name(t) := n if {
	rest := after_purpose(t)
	n := substring(rest, count(target_kind(t)) + 1, -1)
	n != ""
}

after_purpose(t) := substring(t, indexof(t, ":") + 1, -1) if indexof(t, ":") > 0

# The finding's own type, taken apart once.
finding_purpose := purpose(input.finding.type)

finding_target_kind := target_kind(input.finding.type)

finding_threat := threat_name(input.finding.type)

# high_fidelity_purposes are the threat purposes GuardDuty raises only for
# activity that is itself malicious (malware beaconing, mining, trojans), as
# opposed to access patterns that need context to judge.
high_fidelity_purposes := {"Backdoor", "CryptoCurrency", "Trojan"}

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

# product_fields are Security Hub's flattened detector fields.
product_fields := input.finding.raw.ProductFields

# gd_product_field(path) reads a flattened GuardDuty field from Security Hub:
# gd_product_field("resourceRole") is "aws/guardduty/service/resourceRole".
gd_product_field(path) := product_fields[concat("/", ["aws/guardduty/service", path])]

threat_intelligence_details := d if {
	d := input.finding.raw.service.evidence.threatIntelligenceDetails
} else := d if {
	d := input.finding.raw.Service.Evidence.ThreatIntelligenceDetails
}

additional_info := i if {
	i := input.finding.raw.service.additionalInfo
} else := i if {
	i := input.finding.raw.Service.AdditionalInfo
}

api_call := a if {
	a := input.finding.raw.service.action.awsApiCallAction
} else := a if {
	a := input.finding.raw.Service.Action.AwsApiCallAction
}

network_connection := n if {
	n := input.finding.raw.service.action.networkConnectionAction
} else := n if {
	n := input.finding.raw.Service.Action.NetworkConnectionAction
}

dns_request := d if {
	d := input.finding.raw.service.action.dnsRequestAction
} else := d if {
	d := input.finding.raw.Service.Action.DnsRequestAction
}

# resource_role is TARGET when the resource was acted on, ACTOR when it acted.
resource_role := upper(r) if {
	r := input.finding.raw.service.resourceRole
	non_empty_string(r)
} else := upper(r) if {
	r := input.finding.raw.Service.ResourceRole
	non_empty_string(r)
} else := upper(r) if {
	r := gd_product_field("resourceRole")
	non_empty_string(r)
}

# api_name is the API a finding about an API call names ("ListBuckets").
api_name := n if {
	n := field(api_call, "api")
	non_empty_string(n)
} else := n if {
	n := gd_product_field("action/awsApiCallAction/api")
	non_empty_string(n)
}

# api_error_code is the error the API call got ("AccessDenied"); undefined
# when the call succeeded.
api_error_code := c if {
	c := field(api_call, "errorCode")
	non_empty_string(c)
} else := c if {
	c := gd_product_field("action/awsApiCallAction/errorCode")
	non_empty_string(c)
}

# sample holds for GuardDuty's generated sample findings.
sample if field(additional_info, "sample") == true

sample if input.finding.raw.Sample == true

# threat_lists are the threat intelligence lists that named the finding's
# remote address or domain (GuardDuty's evidence, older findings'
# additionalInfo, or Security Hub's flattened fields).
threat_lists contains name if {
	some detail in threat_intelligence_details
	name := field(detail, "threatListName")
	non_empty_string(name)
}

threat_lists contains name if {
	name := field(additional_info, "threatListName")
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
	some name in field(detail, "threatNames")
	non_empty_string(name)
}

threat_names contains name if {
	name := field(additional_info, "threatName")
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
# actor address, else the raw finding's.
remote_ip := ip if {
	ip := input.finding.network.remote_ip
	non_empty_string(ip)
} else := ip if {
	ip := input.finding.actor.ip
	non_empty_string(ip)
} else := ip if {
	ip := field(field(network_connection, "remoteIpDetails"), "ipAddressV4")
	non_empty_string(ip)
} else := ip if {
	ip := field(field(api_call, "remoteIpDetails"), "ipAddressV4")
	non_empty_string(ip)
}

# domain is the domain name the finding is about, if any.
domain := d if {
	d := input.finding.network.domain
	non_empty_string(d)
} else := d if {
	d := field(dns_request, "domain")
	non_empty_string(d)
}

# direction is INBOUND or OUTBOUND, where the finding says.
direction := upper(d) if {
	d := input.finding.network.direction
	non_empty_string(d)
} else := upper(d) if {
	d := field(network_connection, "connectionDirection")
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

is_loopback(ip) if ip in {"127.0.0.1", "::1", "0.0.0.0", "::", "*"}

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

is_shell(p) if p.name in shells

is_shell(p) if basename(exe_path(p)) in shells

in_dirs(path, dirs) if regex.match(dirs, path)

is_miner(p) if lower(p.name) in miner_names

is_miner(p) if lower(basename(exe_path(p))) in miner_names

is_miner(p) if regex.match(miner_args, p.cmdline)

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

# established(t) are t's established connections to a remote address.
established(t) := {c |
	some c in t.connections
	upper(c.state) == "ESTABLISHED"
	is_string(c.remote_ip)
	c.remote_ip != ""
	not is_loopback(c.remote_ip)
}

# miner_processes(t) are the cryptocurrency miners running.
miner_processes(t) := {p |
	some p in t.processes
	is_miner(p)
}

# The sets below test the cheap, selective condition first: most
# processes run from neither directory, and are dropped at once.

# shells_from_writable_dirs(t) are shells started from a world-writable
# directory: a copied shell is how droppers hide an interactive session.
shells_from_writable_dirs(t) := {p |
	some p in t.processes
	in_dirs(exe_path(p), writable_dirs)
	is_shell(p)
}

# programs_in_memory_dirs(t) are non-shell programs running from tmpfs.
programs_in_memory_dirs(t) := {p |
	some p in t.processes
	in_dirs(exe_path(p), memory_dirs)
	not is_shell(p)
}

# programs_in_tmp(t) are other programs running from /tmp or /var/tmp: odd,
# but installers and build tools do it too.
programs_in_tmp(t) := {p |
	some p in t.processes
	in_dirs(exe_path(p), writable_dirs)
	not in_dirs(exe_path(p), memory_dirs)
	not is_shell(p)
	not is_miner(p)
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
	some p in t.processes
	regex.match(reverse_shell_args, p.cmdline)
}

# connections_to(t, ip) are the established connections to ip.
connections_to(t, ip) := {c |
	some c in established(t)
	c.remote_ip == ip
}

# pool_connections(t) are established connections to a mining-pool port.
pool_connections(t) := {c |
	some c in established(t)
	c.remote_port in mining_pool_ports
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
	some e in t.cron
	regex.match(download_and_run, e.command)
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

# events_by(ct, key, ip) are the events made with access key key from ip;
# an empty ip matches any address.
events_by(ct, key, ip) := {e |
	some e in ct.events
	e.access_key_id == key
	ip_matches(e, ip)
}

ip_matches(_, "") := true

ip_matches(e, ip) if e.source_ip == ip

succeeded(e) if not e.error_code

succeeded(e) if e.error_code == ""

# ---------------------------------------------------------------------------
# Responses and reports

# decimal(x) formats a confidence with two decimals ("0.90", "1.00"), which
# sprintf's %f does not do for a number without a fraction.
decimal(x) := sprintf("%d.%02d", [floor(n / 100), n % 100]) if n := round(x * 100)

# allowed(action) holds when the matched rule lists action: a response
# naming any other is an error for the whole investigation (SPEC §5).
allowed(action) if action in input.rule.actions
