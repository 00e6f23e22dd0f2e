# Package cordon.rds.verdict judges GuardDuty RDS Protection findings
# (*:RDS/*): logins to an Aurora or RDS database that GuardDuty distrusts
# (CredentialAccess:RDS/…) and probing of it from distrusted addresses
# (Discovery:RDS/…).
#
# Malicious: a login succeeded after a brute force, or from an address on
# a threat list or a Tor exit node: someone else has a working database
# password. Suspicious: failed attempts, a successful login unlike the
# user's history, probing: the password may not be known yet, or the login
# may be its owner's from somewhere new. cordon has no action on databases,
# so every verdict but benign is a notification with what to do by hand.
package cordon.rds.verdict

import data.cordon.lib

# ---------------------------------------------------------------------------
# The verdict document (cordon's docs/policies.md)

verdict := "malicious" if {
	count(malicious_evidence) > 0
} else := "suspicious" if {
	count(suspicious_evidence) > 0
} else := "inconclusive"

confidence := 0.95 if {
	verdict == "malicious"
	count(lib.threat_lists) > 0
} else := 0.9 if {
	verdict == "malicious"
} else := 0.7 if {
	verdict == "suspicious"
	count(suspicious_evidence) > 1
} else := 0.6 if {
	verdict == "suspicious"
} else := 0.5

reasons contains r if some r in evidence

evidence := malicious_evidence | suspicious_evidence if {
	verdict == "malicious"
} else := suspicious_evidence if {
	verdict == "suspicious"
} else := {sprintf("GuardDuty reported %s at %s severity, but the finding does not say enough to judge it", [input.finding.type, input.finding.severity])}

reasons contains sprintf("GuardDuty counted %v failed and %v successful login(s) of %s%s", [object.get(attempts, "failed", 0), object.get(attempts, "successful", 0), db_user_label, application_suffix]) if {
	count(attempts) > 0
}

reasons contains sprintf("GuardDuty: %s is on threat list %s%s", [caller, list, threat_names_suffix]) if {
	some list in lib.threat_lists
}

reasons contains "GuardDuty marked this finding as a generated sample" if lib.sample

summary := sprintf("Database %s is compromised: %s.", [database_label, root_cause]) if {
	verdict == "malicious"
} else := sprintf("Database %s needs a responder: %s (%s severity).", [database_label, finding_title, input.finding.severity]) if {
	verdict == "suspicious"
} else := sprintf("%s on database %s could be neither confirmed nor explained; a responder should review it.", [input.finding.type, database_label])

root_cause := sprintf("the password of %s was guessed by brute force from %s", [db_user_label, caller]) if {
	brute_forced
} else := sprintf("%s logged in from %s, %s", [db_user_label, caller, distrust]) if {
	verdict == "malicious"
} else := "undetermined: the finding does not show whether anyone logged in"

impact := concat("; ", [text | some [_, text] in impact_parts]) if {
	verdict in {"malicious", "suspicious"}
}

impact_parts contains [1, sprintf("whoever logged in can read and change what %s may in %s", [db_user_label, database_label])] if {
	verdict == "malicious"
}

impact_parts contains [2, sprintf("%s accepts connections from %s: its security groups or network ACLs let the attempts through", [database_label, caller])]

# ---------------------------------------------------------------------------
# Evidence

malicious_evidence contains sprintf("GuardDuty: %s logged in to %s from %s after a run of failed attempts: a successful brute force", [db_user_label, database_label, caller]) if {
	brute_forced
}

malicious_evidence contains sprintf("GuardDuty: %s logged in to %s from %s, %s", [db_user_label, database_label, caller, distrust]) if {
	login_succeeded
	distrust
}

suspicious_evidence contains sprintf("GuardDuty: failed logins to %s as %s from %s, %s", [database_label, db_user_label, caller, distrust]) if {
	endswith(lib.finding_threat, "FailedLogin")
	distrust
}

suspicious_evidence contains sprintf("GuardDuty: failed logins to %s as %s from %s, unlike the database's history", [database_label, db_user_label, caller]) if {
	lib.finding_threat == "AnomalousBehavior.FailedLogin"
}

suspicious_evidence contains sprintf("GuardDuty: %s logged in to %s from %s, unlike its history: confirm it with the user's owner", [db_user_label, database_label, caller]) if {
	lib.finding_threat == "AnomalousBehavior.SuccessfulLogin"
}

suspicious_evidence contains sprintf("GuardDuty: %s probed %s, %s", [caller, database_label, distrust]) if {
	lib.finding_purpose == "Discovery"
	distrust
}

suspicious_evidence contains sprintf("GuardDuty: %s (%s, %s severity)", [finding_title, input.finding.type, input.finding.severity]) if {
	lib.at_least("high")
	not known_threat
}

# ---------------------------------------------------------------------------
# Finding types

brute_forced if lib.finding_threat == "AnomalousBehavior.SuccessfulBruteForce"

login_succeeded if endswith(lib.finding_threat, "SuccessfulLogin")

# distrust says why the caller's address is distrusted, where the finding
# type says it is.
distrust := "an address on a threat list" if {
	startswith(lib.finding_threat, "MaliciousIPCaller")
} else := "a Tor exit node: whoever it is hides where they are" if {
	startswith(lib.finding_threat, "TorIPCaller")
}

known_threat if startswith(lib.finding_threat, "AnomalousBehavior")

known_threat if distrust

# ---------------------------------------------------------------------------
# The database, the user and the caller

database_label := sprintf("%s (%s)", [input.resource.id, engine]) if {
	engine := input.resource.details.engine
	lib.non_empty_string(engine)
} else := input.resource.id

db_user := u if {
	u := input.finding.actor.user
	lib.non_empty_string(u)
}

db_user_label := sprintf("database user %s", [db_user]) if {
	db_user
} else := "a database user"

caller := ip if {
	ip := lib.remote_ip
} else := "an unknown address"

# login_attributes is GuardDuty's first record of the attempts
# (rdsLoginAttemptAction.loginAttributes: user, application, counts).
login_attributes := a if {
	lib.from_guardduty
	a := input.finding.raw.service.action.rdsLoginAttemptAction.loginAttributes[0]
} else := a if {
	lib.from_guardduty
	a := input.finding.raw.Service.Action.RdsLoginAttemptAction.LoginAttributes[0]
}

attempts := {k: n |
	attrs := login_attributes
	some [k, camel, pascal] in [["failed", "failedLoginAttempts", "FailedLoginAttempts"], ["successful", "successfulLoginAttempts", "SuccessfulLoginAttempts"]]
	n := lib.field_of(attrs, camel, pascal)
}

application_suffix := sprintf(" with %s", [app]) if {
	app := lib.field_of(login_attributes, "application", "Application")
	lib.non_empty_string(app)
} else := ""

# finding_title is the finding's title as a clause: no final period.
finding_title := t if {
	t := trim_suffix(trim_space(input.finding.title), ".")
	t != ""
} else := input.finding.type

threat_names_suffix := sprintf(" (%s)", [concat(", ", lib.threat_names)]) if {
	count(lib.threat_names) > 0
} else := ""
