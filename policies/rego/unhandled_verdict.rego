# Package cordon.unhandled.verdict is the verdict of the catch-all rule: a
# high or critical finding of a type no other starter rule takes (a
# GuardDuty type added after these policies were written, a Custom
# Detection Rules finding, another product's finding through Security Hub
# or OCSF).
#
# Nothing about such a finding was weighed, so the verdict is inconclusive:
# the reasons say who rated it how severe, about what, and that no rule
# judged it. Its only response is a notification, so a person sees it.
package cordon.unhandled.verdict

import data.cordon.lib

verdict := "inconclusive"

confidence := 0.5

reasons contains sprintf("%s rated %s %s (%v of 10)", [product, input.finding.type, input.finding.severity, input.finding.severity_score])

reasons contains sprintf("no rule of this configuration takes %s: cordon weighed no evidence and plans nothing but this notification", [input.finding.type])

reasons contains sprintf("%s: %s", [product, title]) if {
	title := trim_space(input.finding.title)
	title != ""
}

reasons contains sprintf("resource: %s %s", [input.resource.type, input.resource.id])

reasons contains sprintf("%s marked this finding as a sample", [product]) if lib.sample

summary := sprintf("%s (%s) on %s %s: no rule of this configuration handles it; a responder should review it.", [input.finding.type, input.finding.severity, input.resource.type, input.resource.id])

root_cause := "undetermined: no rule weighs this type of finding"

# product names who produced the finding: GuardDuty for a finding proven
# GuardDuty's, else the product Security Hub or OCSF names, by its ARN or
# uid, which a product cannot choose (its name it can: see
# lib.from_guardduty).
product := "GuardDuty" if {
	lib.from_guardduty
} else := sprintf("Security Hub product %s", [arn]) if {
	arn := input.finding.raw.ProductArn
	lib.non_empty_string(arn)
} else := sprintf("OCSF product %s", [name]) if {
	name := input.finding.raw.metadata.product.name
	lib.non_empty_string(name)
} else := input.finding.source

reasons contains sprintf("the product calls itself %s", [name]) if {
	not lib.from_guardduty
	name := input.finding.raw.ProductName
	lib.non_empty_string(name)
}
