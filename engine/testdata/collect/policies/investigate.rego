# The collectors' facts are gathered; the verdict does not weigh them: the
# test that uses this configuration is about the calls they make.
package cordon.investigate

verdict := "suspicious"

reasons contains sprintf("GuardDuty reported %s", [input.finding.type])

actions contains {"action": "tag", "reason": "mark the instance under investigation"}
