// Command genfindings writes N realistic GuardDuty findings as NDJSON, for
// measuring `cordon plan` throughput and memory:
//
//	go run ./internal/cmd/genfindings -n 10000 > /tmp/findings.ndjson
//	cordon plan -config policies -finding /tmp/findings.ndjson -json > /dev/null
//
// The findings are built from the published samples in testdata/findings
// with distinct ids, resources, types and severities, so every one is a
// separate incident and the mix exercises every starter rule.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
)

var templates = []struct {
	file  string
	types []string
}{
	{"guardduty_boto3_GetFindings_Backdoor_EC2_CnCActivity.B-DNS.json", []string{
		"Backdoor:EC2/C&CActivity.B!DNS", "CryptoCurrency:EC2/BitcoinTool.B!DNS", "Trojan:EC2/DNSDataExfiltration",
		"UnauthorizedAccess:EC2/SSHBruteForce", "Recon:EC2/PortProbeUnprotectedPort"}},
	{"guardduty_Recon_IAMUser_MaliciousIPCaller.Custom.json", []string{
		"Recon:IAMUser/MaliciousIPCaller.Custom", "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
		"CredentialAccess:IAMUser/AnomalousBehavior"}},
	{"guardduty_PenTest_S3_ParrotLinux.json", []string{"PenTest:S3/ParrotLinux", "Policy:S3/BucketBlockPublicAccessDisabled"}},
}

func main() {
	n := flag.Int("n", 10000, "number of findings")
	dir := flag.String("fixtures", "testdata/findings", "directory of the sample findings")
	seed := flag.Uint64("seed", 1, "random seed (the output is deterministic for a seed)")
	flag.Parse()

	var bases []map[string]any
	for _, t := range templates {
		data, err := os.ReadFile(filepath.Join(*dir, t.file))
		if err != nil {
			fail(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			fail(err)
		}
		bases = append(bases, m)
	}
	rng := rand.New(rand.NewPCG(*seed, 7))
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	enc := json.NewEncoder(w)
	for i := range *n {
		k := i % len(templates)
		f := clone(bases[k]).(map[string]any)
		id := fmt.Sprintf("%032x", rng.Uint64()^uint64(i)<<32)
		typ := templates[k].types[rng.IntN(len(templates[k].types))]
		sev := 2 + rng.Float64()*7
		setAny(f, id, "Id", "id")
		setAny(f, typ, "Type", "type")
		setAny(f, float64(int(sev*10))/10, "Severity", "severity")
		setAny(f, fmt.Sprintf("%012d", 100000000000+rng.IntN(5)), "AccountId", "accountId")
		if res, ok := first(f, "Resource", "resource").(map[string]any); ok {
			if inst, ok := first(res, "InstanceDetails", "instanceDetails").(map[string]any); ok {
				setAny(inst, fmt.Sprintf("i-%017x", rng.Uint64()>>4), "InstanceId", "instanceId")
			}
			if key, ok := first(res, "AccessKeyDetails", "accessKeyDetails").(map[string]any); ok {
				setAny(key, fmt.Sprintf("AKIA%016X", rng.Uint64()>>1), "AccessKeyId", "accessKeyId")
			}
		}
		if err := enc.Encode(f); err != nil {
			fail(err)
		}
	}
	if err := w.Flush(); err != nil {
		fail(err)
	}
}

// setAny sets whichever of the keys (PascalCase or camelCase) the finding uses.
func setAny(m map[string]any, v any, keys ...string) {
	for _, k := range keys {
		if _, ok := m[k]; ok {
			m[k] = v
			return
		}
	}
}

func first(m map[string]any, keys ...string) any {
	for _, k := range keys {
		if v, ok := m[k]; ok {
			return v
		}
	}
	return nil
}

func clone(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = clone(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = clone(e)
		}
		return out
	}
	return v
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "genfindings:", err)
	os.Exit(1)
}
