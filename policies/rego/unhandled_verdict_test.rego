package cordon.unhandled.verdict_test

import data.cordon.unhandled.verdict

key := {"type": "aws_iam_access_key", "id": "AKIAXQ4G7NF2ORGADMIN", "tags": {}, "details": {}}

finding(source, raw) := {
	"id": "6c1d9e2f3a4b4c5d8e7f9a0b1c2d3e4f",
	"source": source,
	"type": "DefenseImpairment:Organizations/ModifyCloudResourceHierarchy",
	"title": "An attempt to leave the organization was made. ",
	"severity": "high",
	"severity_score": 8,
	"account": "123456789012",
	"region": "us-west-2",
	"count": 1,
	"resource": key,
	"resources": [key],
	"raw": raw,
}

make_input(f) := {
	"finding": f,
	"resource": f.resource,
	"facts": {},
	"scope": {"name": "iam_principals"},
	"rule": {"name": "unhandled_high_severity", "actions": ["notify"]},
}

test_a_guardduty_type_no_rule_takes if {
	v := verdict with input as make_input(finding("guardduty", {"schemaVersion": "2.0"}))
	v.verdict == "inconclusive"
	v.confidence == 0.5
	v.reasons == {
		"GuardDuty rated DefenseImpairment:Organizations/ModifyCloudResourceHierarchy high (8 of 10)",
		"no rule of this configuration takes DefenseImpairment:Organizations/ModifyCloudResourceHierarchy: cordon weighed no evidence and plans nothing but this notification",
		"GuardDuty: An attempt to leave the organization was made.",
		"resource: aws_iam_access_key AKIAXQ4G7NF2ORGADMIN",
	}
	v.summary == "DefenseImpairment:Organizations/ModifyCloudResourceHierarchy (high) on aws_iam_access_key AKIAXQ4G7NF2ORGADMIN: no rule of this configuration handles it; a responder should review it."
	v.root_cause == "undetermined: no rule weighs this type of finding"
}

test_another_products_finding_is_named_by_its_arn if {
	raw := {"ProductArn": "arn:aws:securityhub:us-west-2::product/aws/inspector", "ProductName": "Inspector"}
	v := verdict with input as make_input(object.union(finding("securityhub", raw), {"title": ""}))
	"Security Hub product arn:aws:securityhub:us-west-2::product/aws/inspector rated DefenseImpairment:Organizations/ModifyCloudResourceHierarchy high (8 of 10)" in v.reasons
	"the product calls itself Inspector" in v.reasons
	not "GuardDuty: An attempt to leave the organization was made." in v.reasons
}

test_ocsf_and_unnamed_products if {
	ocsf := verdict with input as make_input(finding("ocsf", {"metadata": {"product": {"name": "Prowler"}}}))
	"OCSF product Prowler: An attempt to leave the organization was made." in ocsf.reasons
	unnamed := verdict with input as make_input(finding("ocsf", {}))
	"ocsf rated DefenseImpairment:Organizations/ModifyCloudResourceHierarchy high (8 of 10)" in unnamed.reasons
}

test_sample_findings_are_noted if {
	v := verdict with input as make_input(object.union(finding("guardduty", {}), {"sample": true}))
	"GuardDuty marked this finding as a sample" in v.reasons
}
