package schema

import (
	"errors"
	"fmt"
	"strings"
)

// OCSF classes cordon reads as findings.
const (
	ocsfSecurityFinding  = 2001 // OCSF 1.0 (deprecated in 1.1)
	ocsfDetectionFinding = 2004 // OCSF 1.1 and later
)

// ocsfClass returns the class_uid of an OCSF event (from type_uid when
// class_uid is missing) and whether m is one.
func ocsfClass(m map[string]any) (int, bool) {
	if c, ok := asInt(m["class_uid"]); ok {
		return c, true
	}
	if t, ok := asInt(m["type_uid"]); ok && t >= 100 {
		if _, meta := m["metadata"].(map[string]any); meta {
			return t / 100, true
		}
	}
	return 0, false
}

// parseOCSF normalizes an OCSF Detection Finding (2004) or Security Finding
// (2001). Versions differ in where things are: finding_info (1.1+) or
// finding (1.0, rc2), cloud.account.uid or cloud.account_uid, resource
// details in data or details, as an object or a JSON string.
func parseOCSF(m map[string]any) (*Finding, error) {
	f := &Finding{Source: SourceOCSF}
	fi := obj(m, "finding_info")
	if fi == nil {
		fi = obj(m, "finding")
	}
	f.ID = firstNonEmpty(str(fi, "uid"), pathStr(m, "metadata", "uid"))
	f.Title = str(fi, "title")
	f.Description = firstNonEmpty(str(fi, "desc"), str(m, "message"))

	gd := ocsfFromGuardDuty(m)
	types := arr(fi, "types")
	if gd {
		f.Type = guardDutyTypeOf(types, f.Title)
	}
	if f.Type == "" {
		f.Type = ocsfType(m, fi, types, f.Title)
	}

	var err error
	if f.Severity, f.SeverityScore, err = ocsfSeverity(m); err != nil {
		return nil, err
	}
	if gd {
		// GuardDuty's own score, as the ASFF it was mapped from kept it
		// (securityhub.go, guardDutyProductScore).
		u := obj(m, "unmapped")
		if score, ok := guardDutyProductScore(
			unmappedStr(u, "Severity.Product"),
			unmappedStr(u, "FindingProviderFields.Severity.Original"),
			unmappedStr(u, "Severity.Original"),
		); ok {
			f.SeverityScore, f.Severity = score, GuardDutySeverity(score)
		}
	}

	cloud := obj(m, "cloud")
	f.Account = firstNonEmpty(pathStr(cloud, "account", "uid"), str(cloud, "account_uid"))
	f.Region = str(cloud, "region")
	f.CreatedAt = firstNonEmpty(ocsfTime(fi, "created_time"), ocsfTime(m, "time"))
	f.UpdatedAt = ocsfTime(fi, "modified_time")
	f.Count = 1
	if n, ok := asInt(m["count"]); ok && n > 1 {
		f.Count = n
	}

	var rs []Resource
	for _, e := range arr(m, "resources") {
		if r, ok := e.(map[string]any); ok {
			rs = ocsfResource(rs, r)
		}
	}
	finishResources(f, rs)
	locateBackupResources(f)
	for _, e := range arr(m, "resources") {
		if r, ok := e.(map[string]any); ok && f.Partition == "" {
			f.Partition = str(r, "cloud_partition")
		}
	}
	if f.Partition == "" {
		f.Partition = firstNonEmpty(arnPartition(f.ID), arnPartition(f.Resource.ARN))
	}

	f.Network, f.Actor = ocsfActivity(m)
	f.Actor = accessKeyActor(f.Actor, f.Resources)
	return f, nil
}

// ocsfType chooses the type of an OCSF finding that is not GuardDuty's:
// finding_info.types[0], unless it is a category word or taxonomy path
// that many unrelated findings share ("Data Protection", ASFF's
// "Software and Configuration Checks/…"), which a rule's finding_types
// cannot tell apart. Then the producer's own name for what it detected
// wins: the analytic (finding_info.analytic.name, else its uid: OCSF
// 1.1's "rule or model that produced the finding"), else
// metadata.event_code ("the Event ID, Code, or Name that the product uses
// to primarily identify the event": Prowler's check id). The title is prose
// for people, often naming the resource ("Infection found on 1.183.190.110"):
// it is the type only of a finding with no types at all, as before.
func ocsfType(m, fi map[string]any, types []any, title string) string {
	first := ""
	if len(types) > 0 {
		first = strings.TrimSpace(asString(types[0]))
	}
	if first != "" && !genericType(first) {
		return first
	}
	analytic := obj(fi, "analytic")
	if s := firstNonEmpty(str(analytic, "name"), str(analytic, "uid")); s != "" {
		return s
	}
	if first == "" && title != "" {
		return title
	}
	if code := pathStr(m, "metadata", "event_code"); code != "" && !strings.ContainsAny(code, " \t") {
		return code
	}
	return firstNonEmpty(first, title)
}

// asffNamespaces are the top level of ASFF's type taxonomy
// (namespace/category/classifier), which OCSF producers mapping from
// Security Hub keep in types.
var asffNamespaces = []string{
	"Software and Configuration Checks", "TTPs", "Effects", "Unusual Behaviors",
	"Sensitive Data Identifications",
}

// genericTypes are single words producers put in types that name a
// class of finding, not a detection.
var genericTypes = map[string]bool{
	"finding": true, "findings": true, "detection": true, "alert": true, "threat": true,
	"other": true, "unknown": true, "security": true, "vulnerability": true, "compliance": true,
	"malware": true, "policy": true, "detection finding": true, "security finding": true,
}

// genericType reports whether an OCSF type is a category rather than the
// name of a detection: an ASFF taxonomy path, a known class word, or a
// phrase of plain words ("Data Protection", "Privilege Escalation"),
// where a detection's name is an identifier ("malware_infection",
// "acm_certificates_expiration_check", "Stealth:IAMUser/…").
func genericType(t string) bool {
	if genericTypes[strings.ToLower(t)] {
		return true
	}
	for _, ns := range asffNamespaces {
		if t == ns || strings.HasPrefix(t, ns+"/") {
			return true
		}
	}
	if !strings.Contains(t, " ") {
		return false
	}
	for _, r := range t {
		if !(r == ' ' || r == '-' || r == '&' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// unmappedStr reads a key of OCSF's unmapped object, flattened
// ("Severity.Product") as Security Lake writes it, or nested.
func unmappedStr(u map[string]any, key string) string {
	if v, ok := u[key]; ok {
		return asString(v)
	}
	return pathStr(u, strings.Split(key, ".")...)
}

// ocsfFromGuardDuty reports whether the finding was mapped from a
// GuardDuty one through Security Hub. OCSF has no signature, so what
// proves it is what only that route writes: metadata.product.uid is the
// Security Hub ProductArn of AWS's own GuardDuty integration (product/…
// from Security Lake's mapping of ASFF, productv2/… from Security Hub's
// own OCSF findings). A product name "GuardDuty" or vendor "Amazon" is
// anyone's to write and proves nothing.
func ocsfFromGuardDuty(m map[string]any) bool {
	return isGuardDutyProductArn(pathStr(m, "metadata", "product", "uid"), true)
}

// ocsfSeverity maps severity_id: 1..5 are informational..critical, scored
// at the middle of the label's band on GuardDuty's scale (0, 2.5, 5.5,
// 8.0, 9.5); 6 (Fatal) is critical at 10. 0 (Unknown) and 99 (Other) take
// the severity caption when it names a label, else informational at 0: a
// severity the producer did not give is not raised. A finding without
// severity_id (some producers send only the caption) is read from its
// caption when that is one of OCSF's labels, and rejected otherwise.
func ocsfSeverity(m map[string]any) (string, float64, error) {
	text := strings.TrimSpace(str(m, "severity"))
	caption := strings.ToLower(text)
	id, ok := asInt(m["severity_id"])
	switch {
	case ok && id >= 1 && id <= 5:
		label := Severities[id-1]
		return label, labelScores[label], nil
	case ok && id == 6:
		return SeverityCritical, 10, nil
	}
	if _, known := SeverityRank(caption); known {
		return caption, labelScores[caption], nil
	}
	if caption == "fatal" {
		return SeverityCritical, 10, nil
	}
	if ok {
		return SeverityInformational, 0, nil
	}
	if text == "" {
		return "", 0, errors.New("OCSF finding: severity_id is missing, and so is severity")
	}
	return "", 0, fmt.Errorf("OCSF finding: severity_id is missing, and severity %q is not one of OCSF's labels (Informational, Low, Medium, High, Critical, Fatal)", text)
}

// ocsfTime reads the timestamp name of m: name_dt (a date-time string)
// where present, else name (epoch milliseconds, or seconds as some
// producers send).
func ocsfTime(m map[string]any, name string) string {
	if m == nil {
		return ""
	}
	if t := normTime(m[name+"_dt"]); t != "" {
		return t
	}
	return normTime(m[name])
}

// ocsfResource appends one of resources[].
func ocsfResource(rs []Resource, r map[string]any) []Resource {
	typ, uid, name := str(r, "type"), str(r, "uid"), str(r, "name")
	if uid == "" {
		uid = name
	}
	tfType := terraformType(typ)
	inferred := false
	if t, ok := otherBackupType(typ, uid); ok {
		// As for ASFF (asffResource): the ARN says what it is.
		tfType, inferred = t, true
	}
	res := resourceFromID(tfType, uid)
	for _, l := range arr(r, "labels") {
		s := asString(l)
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			k, v, _ = strings.Cut(s, ":")
		}
		if k != "" {
			res.Tags[k] = v
		}
	}
	tagsFrom(r["tags"], res.Tags)

	// Producers mapping from Security Hub keep the ASFF details, as
	// {"AwsIamAccessKey": {…}}, often as a JSON string. A type inferred
	// from the ARN has its details from the ARN alone: Other's have no
	// fixed shape.
	var asff map[string]any
	for _, key := range [...]string{"data", "details"} {
		if inferred || typ == "" {
			break
		}
		v := r[key]
		if s, ok := v.(string); ok && strings.HasPrefix(strings.TrimSpace(s), "{") {
			v, _ = decodeJSON([]byte(s))
		}
		if d, ok := v.(map[string]any); ok {
			if a := obj(d, typ); a != nil {
				asff = a
				break
			}
		}
	}
	var principal Resource
	var hasPrincipal bool
	if asff != nil {
		principal, hasPrincipal = asffDetails(&res, typ, asff)
	} else if _, fixed := detailKeys[res.Type]; !fixed {
		setStr(res.Details, "name", name)
	}
	rs = append(rs, res)
	if hasPrincipal {
		rs = append(rs, principal)
	}
	return rs
}

// ocsfActivity reads the network activity and actor: the finding's own
// src_endpoint/dst_endpoint/actor, or those of its first evidence that has
// them. Unless the connection is outbound, the source is the remote end.
func ocsfActivity(m map[string]any) (*Network, *Actor) {
	src, dst := obj(m, "src_endpoint"), obj(m, "dst_endpoint")
	actor, api, query := obj(m, "actor"), obj(m, "api"), obj(m, "query")
	conn := obj(m, "connection_info")
	if src == nil && dst == nil {
		for _, e := range arr(m, "evidences") {
			ev, ok := e.(map[string]any)
			if !ok {
				continue
			}
			src, dst = obj(ev, "src_endpoint"), obj(ev, "dst_endpoint")
			if src == nil && dst == nil {
				continue
			}
			if actor == nil {
				actor = obj(ev, "actor")
			}
			if api == nil {
				api = obj(ev, "api")
			}
			if query == nil {
				query = obj(ev, "query")
			}
			if conn == nil {
				conn = obj(ev, "connection_info")
			}
			break
		}
	}

	var n Network
	n.Protocol = strings.ToUpper(str(conn, "protocol_name"))
	remote, local := src, dst
	dir, _ := asInt(conn["direction_id"])
	switch {
	case dir == 2 || strings.EqualFold(str(conn, "direction"), "outbound"):
		n.Direction = "OUTBOUND"
		remote, local = dst, src
	case dir == 1 || strings.EqualFold(str(conn, "direction"), "inbound"):
		n.Direction = "INBOUND"
	}
	n.RemoteIP = str(remote, "ip")
	n.RemotePort = intField(remote, "port")
	n.RemoteCountry = pathStr(remote, "location", "country")
	n.LocalIP = str(local, "ip")
	n.LocalPort = intField(local, "port")
	n.Domain = firstNonEmpty(str(query, "hostname"), str(remote, "domain"), str(remote, "hostname"))
	var network *Network
	if n != (Network{}) {
		network = &n
	}

	var a Actor
	if u := obj(actor, "user"); u != nil {
		a.User = firstNonEmpty(str(u, "name"), str(u, "uid"))
		a.Type = str(u, "type")
		a.AccessKeyID = str(u, "credential_uid")
	}
	if actor != nil || api != nil {
		// An API call's source is its caller.
		a.IP = str(src, "ip")
	}
	if a == (Actor{}) {
		return network, nil
	}
	return network, &a
}
