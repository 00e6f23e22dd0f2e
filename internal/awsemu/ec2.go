package awsemu

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// EC2 speaks ec2query: form parameters in, <OpResponse> XML out, errors as
// <Response><Errors><Error>.
var ec2API = &api{
	id: "ec2", prefix: "ec2", protocol: protoEC2, version: "2016-11-15",
	xmlns:        "http://ec2.amazonaws.com/doc/2016-11-15/",
	throttle:     errf(503, "RequestLimitExceeded", "Request limit exceeded."),
	internal:     errf(500, "InternalError", "An internal error has occurred"),
	badToken:     errf(401, "AuthFailure", "AWS was not able to validate the provided access credentials"),
	expiredToken: errf(400, "RequestExpired", "Request has expired."),
	missingAuth:  errf(401, "MissingAuthenticationToken", "Request is missing Authentication Token"),
	deniedCode:   "UnauthorizedOperation", deniedStatus: 403,
}

func init() {
	ec2API.ops = map[string]handler{
		"DescribeInstances":                      describeInstances,
		"DescribeInstanceAttribute":              describeInstanceAttribute,
		"ModifyInstanceAttribute":                modifyInstanceAttribute,
		"DescribeNetworkInterfaces":              describeNetworkInterfaces,
		"ModifyNetworkInterfaceAttribute":        modifyNetworkInterfaceAttribute,
		"DescribeSecurityGroups":                 describeSecurityGroups,
		"CreateTags":                             createTags,
		"DeleteTags":                             deleteTags,
		"DescribeTags":                           describeTags,
		"DescribeVolumes":                        describeVolumes,
		"CreateSnapshot":                         createSnapshot,
		"CreateSnapshots":                        createSnapshots,
		"DescribeSnapshots":                      describeSnapshots,
		"ModifySnapshotAttribute":                modifySnapshotAttribute,
		"DescribeSnapshotAttribute":              describeSnapshotAttribute,
		"CopySnapshot":                           copySnapshot,
		"StopInstances":                          stopInstances,
		"StartInstances":                         startInstances,
		"DescribeIamInstanceProfileAssociations": describeIamInstanceProfileAssociations,
		"AssociateIamInstanceProfile":            associateIamInstanceProfile,
		"DisassociateIamInstanceProfile":         disassociateIamInstanceProfile,
		"ReplaceIamInstanceProfileAssociation":   replaceIamInstanceProfileAssociation,
		"GetConsoleOutput":                       getConsoleOutput,
		"GetConsoleScreenshot":                   getConsoleScreenshot,
		"CreateSecurityGroup":                    createSecurityGroup,
		"RevokeSecurityGroupEgress":              revokeSecurityGroupRules(true),
		"AuthorizeSecurityGroupIngress":          authorizeSecurityGroupRules(false),
		"AuthorizeSecurityGroupEgress":           authorizeSecurityGroupRules(true),
	}
}

func ec2Err(code, format string, args ...any) *apiError { return errf(400, code, format, args...) }

func missing(name string) *apiError {
	return ec2Err("MissingParameter", "The request must contain the parameter %s", name)
}

// dryRun answers DryRun=true once a request has been validated and
// authorized, as EC2 does.
func (r *request) dryRun() error {
	dry, _, err := r.params.bool("DryRun")
	if err != nil {
		return err
	}
	if dry {
		return errf(412, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
	}
	return nil
}

// ---- ids -------------------------------------------------------------------

type idKind struct {
	re        *regexp.Regexp
	malformed string // error code for a malformed id
	notFound  func(ids []string) *apiError
}

func notFoundErr(code, noun string) func([]string) *apiError {
	return func(ids []string) *apiError {
		if len(ids) == 1 {
			return ec2Err(code, "The %s ID '%s' does not exist", noun, ids[0])
		}
		return ec2Err(code, "The %s IDs '%s' do not exist", noun, strings.Join(ids, ", "))
	}
}

var (
	kindInstance = idKind{instanceRE, "InvalidInstanceID.Malformed", notFoundErr("InvalidInstanceID.NotFound", "instance")}
	kindENI      = idKind{eniRE, "InvalidNetworkInterfaceID.Malformed", notFoundErr("InvalidNetworkInterfaceID.NotFound", "networkInterface")}
	kindGroup    = idKind{sgRE, "InvalidGroupId.Malformed", func(ids []string) *apiError {
		return ec2Err("InvalidGroup.NotFound", "The security group '%s' does not exist", strings.Join(ids, ", "))
	}}
	kindVolume = idKind{volumeRE, "InvalidVolumeID.Malformed", func(ids []string) *apiError {
		return ec2Err("InvalidVolume.NotFound", "The volume '%s' does not exist.", strings.Join(ids, ", "))
	}}
	kindSnapshot = idKind{snapshotRE, "InvalidSnapshotID.Malformed", func(ids []string) *apiError {
		return ec2Err("InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", strings.Join(ids, ", "))
	}}
)

// lookup checks ids' syntax, then that each exists, reporting every
// missing one at once as EC2 does.
func lookup[T any](k idKind, m map[string]*T, ids []string) ([]*T, error) {
	for _, id := range ids {
		if !k.re.MatchString(id) {
			prefix, _, _ := strings.Cut(k.re.String()[1:], "-")
			return nil, ec2Err(k.malformed, "Invalid id: \"%s\" (expecting \"%s-...\")", id, prefix)
		}
	}
	out := make([]*T, 0, len(ids))
	var absent []string
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		if v := m[id]; v != nil {
			out = append(out, v)
		} else {
			absent = append(absent, id)
		}
	}
	if len(absent) > 0 {
		return nil, k.notFound(absent)
	}
	return out, nil
}

// ---- filters and pages -----------------------------------------------------

type filter struct {
	Name   string
	Values []string
}

func (r *request) filters() ([]filter, error) {
	var out []filter
	for _, it := range r.params.items("Filter") {
		f := filter{Name: r.params.get(it + ".Name"), Values: r.params.list(it + ".Value")}
		if f.Name == "" {
			return nil, ec2Err("InvalidParameterValue", "The filter name must not be empty")
		}
		out = append(out, f)
	}
	return out, nil
}

// fields maps a filter name to the values of an item it compares.
type fields[T any] map[string]func(T) []string

// applyFilters keeps the items every filter matches; within a filter any
// value may match. Tag filters (tag:Key, tag-key, tag-value) use tags.
func applyFilters[T any](items []T, fs []filter, defs fields[T], tags func(T) map[string]string) ([]T, error) {
	for _, f := range fs {
		if _, ok := defs[f.Name]; !ok {
			if _, tagFilter := tagsMatch(nil, f.Name, nil); !tagFilter || tags == nil {
				return nil, ec2Err("InvalidParameterValue", "The filter '%s' is invalid", f.Name)
			}
		}
	}
	out := items[:0:0]
	for _, it := range items {
		keep := true
		for _, f := range fs {
			if get, ok := defs[f.Name]; ok {
				match := false
				for _, v := range get(it) {
					if anyGlob(f.Values, v) {
						match = true
						break
					}
				}
				keep = match
			} else {
				keep, _ = tagsMatch(tags(it), f.Name, f.Values)
			}
			if !keep {
				break
			}
		}
		if keep {
			out = append(out, it)
		}
	}
	return out, nil
}

func one(s string) []string { return []string{s} }

// page cuts a sorted list of ids after NextToken to MaxResults. EC2's
// tokens are opaque; these encode the operation and the last id returned.
func (r *request) page(ids []string, lo, hi int, idsGiven bool) ([]string, string, error) {
	max, ok, err := r.params.int("MaxResults")
	if err != nil {
		return nil, "", err
	}
	if ok {
		if idsGiven {
			return nil, "", ec2Err("InvalidParameterCombination", "The parameter MaxResults cannot be used with the parameter specifying resource ids")
		}
		if max < lo || max > hi {
			return nil, "", ec2Err("InvalidParameterValue", "Value ( %d ) for parameter maxResults is invalid. Expecting a value between %d and %d.", max, lo, hi)
		}
	}
	start := 0
	if tok := r.params.get("NextToken"); tok != "" {
		last, ok := decodeToken(r.op, tok)
		if !ok {
			return nil, "", ec2Err("InvalidPaginationToken", "Invalid token: %s", tok)
		}
		start = sort.SearchStrings(ids, last)
		if start < len(ids) && ids[start] == last {
			start++
		}
	}
	ids = ids[start:]
	if !ok || len(ids) <= max {
		return ids, "", nil
	}
	return ids[:max], encodeToken(r.op, ids[max-1]), nil
}

func encodeToken(op, last string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(op + "\x00" + last))
}

func decodeToken(op, tok string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", false
	}
	o, last, ok := strings.Cut(string(b), "\x00")
	return last, ok && o == op
}

// ---- XML shapes ------------------------------------------------------------

type xTag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

func xTags(m map[string]string) []xTag {
	out := make([]xTag, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, xTag{k, m[k]})
	}
	return out
}

type xValue struct {
	Value string `xml:"value"`
}

type xBoolValue struct {
	Value bool `xml:"value"`
}

type xGroup struct {
	GroupID   string `xml:"groupId"`
	GroupName string `xml:"groupName"`
}

func (r *request) xGroups(ids []string) []xGroup {
	out := make([]xGroup, 0, len(ids))
	for _, id := range ids {
		g := xGroup{GroupID: id}
		if sg := r.region.SecurityGroups[id]; sg != nil {
			g.GroupName = sg.Name
		}
		out = append(out, g)
	}
	return out
}

type xState struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

var stateCodes = map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}

func xStateOf(s string) xState { return xState{stateCodes[s], s} }

type xProfile struct {
	ARN string `xml:"arn"`
	ID  string `xml:"id"`
}

type xEBS struct {
	VolumeID            string  `xml:"volumeId"`
	Status              string  `xml:"status"`
	AttachTime          xmlTime `xml:"attachTime"`
	DeleteOnTermination bool    `xml:"deleteOnTermination"`
}

type xBlockDevice struct {
	DeviceName string `xml:"deviceName"`
	EBS        xEBS   `xml:"ebs"`
}

type xENIAttachment struct {
	AttachmentID        string   `xml:"attachmentId"`
	InstanceID          string   `xml:"instanceId,omitempty"`
	InstanceOwnerID     string   `xml:"instanceOwnerId,omitempty"`
	DeviceIndex         int      `xml:"deviceIndex"`
	Status              string   `xml:"status"`
	AttachTime          *xmlTime `xml:"attachTime"`
	DeleteOnTermination bool     `xml:"deleteOnTermination"`
	NetworkCardIndex    int      `xml:"networkCardIndex"`
}

type xAssociation struct {
	PublicIP      string `xml:"publicIp"`
	PublicDNSName string `xml:"publicDnsName"`
	IPOwnerID     string `xml:"ipOwnerId"`
}

type xPrivateIP struct {
	PrivateIP      string        `xml:"privateIpAddress"`
	PrivateDNSName string        `xml:"privateDnsName"`
	Primary        bool          `xml:"primary"`
	Association    *xAssociation `xml:"association,omitempty"`
}

type xInstanceENI struct {
	ID              string          `xml:"networkInterfaceId"`
	SubnetID        string          `xml:"subnetId"`
	VPCID           string          `xml:"vpcId"`
	Description     string          `xml:"description"`
	OwnerID         string          `xml:"ownerId"`
	Status          string          `xml:"status"`
	MACAddress      string          `xml:"macAddress"`
	PrivateIP       string          `xml:"privateIpAddress"`
	PrivateDNSName  string          `xml:"privateDnsName"`
	SourceDestCheck bool            `xml:"sourceDestCheck"`
	Groups          []xGroup        `xml:"groupSet>item"`
	Attachment      *xENIAttachment `xml:"attachment"`
	Association     *xAssociation   `xml:"association,omitempty"`
	PrivateIPs      []xPrivateIP    `xml:"privateIpAddressesSet>item"`
	InterfaceType   string          `xml:"interfaceType"`
}

type xInstance struct {
	InstanceID      string   `xml:"instanceId"`
	ImageID         string   `xml:"imageId"`
	State           xState   `xml:"instanceState"`
	PrivateDNSName  string   `xml:"privateDnsName"`
	DNSName         string   `xml:"dnsName"`
	Reason          string   `xml:"reason"`
	KeyName         string   `xml:"keyName,omitempty"`
	AmiLaunchIndex  int      `xml:"amiLaunchIndex"`
	InstanceType    string   `xml:"instanceType"`
	LaunchTime      xmlTime  `xml:"launchTime"`
	AZ              string   `xml:"placement>availabilityZone"`
	Tenancy         string   `xml:"placement>tenancy"`
	Platform        string   `xml:"platform,omitempty"`
	Monitoring      string   `xml:"monitoring>state"`
	SubnetID        string   `xml:"subnetId,omitempty"`
	VPCID           string   `xml:"vpcId,omitempty"`
	PrivateIP       string   `xml:"privateIpAddress,omitempty"`
	PublicIP        string   `xml:"ipAddress,omitempty"`
	SourceDestCheck bool     `xml:"sourceDestCheck"`
	Groups          []xGroup `xml:"groupSet>item"`
	StateReason     *struct {
		Code    string `xml:"code"`
		Message string `xml:"message"`
	} `xml:"stateReason,omitempty"`
	Architecture       string         `xml:"architecture"`
	RootDeviceType     string         `xml:"rootDeviceType"`
	RootDeviceName     string         `xml:"rootDeviceName"`
	BlockDevices       []xBlockDevice `xml:"blockDeviceMapping>item"`
	VirtualizationType string         `xml:"virtualizationType"`
	Tags               []xTag         `xml:"tagSet>item"`
	Hypervisor         string         `xml:"hypervisor"`
	NetworkInterfaces  []xInstanceENI `xml:"networkInterfaceSet>item"`
	IAMProfile         *xProfile      `xml:"iamInstanceProfile,omitempty"`
	EBSOptimized       bool           `xml:"ebsOptimized"`
	PlatformDetails    string         `xml:"platformDetails"`
	UsageOperation     string         `xml:"usageOperation"`
}

type xReservation struct {
	ReservationID string      `xml:"reservationId"`
	OwnerID       string      `xml:"ownerId"`
	Groups        []xGroup    `xml:"groupSet>item"`
	Instances     []xInstance `xml:"instancesSet>item"`
}

// ---- instances -------------------------------------------------------------

// settle advances an instance's pending transition by one Describe call.
func settle(in *Instance) {
	t := in.Transition
	if t == nil {
		return
	}
	if t.RemainingCalls <= 0 {
		in.State, in.Transition = t.To, nil
		return
	}
	t.RemainingCalls--
}

// instanceGroups is the union of the groups of an instance's interfaces, in
// first-seen order.
func (r *request) instanceGroups(in *Instance) []string {
	var out []string
	seen := map[string]bool{}
	for _, id := range in.NetworkInterfaces {
		if eni := r.region.NetworkInterfaces[id]; eni != nil {
			for _, g := range eni.Groups {
				if !seen[g] {
					seen[g] = true
					out = append(out, g)
				}
			}
		}
	}
	return out
}

func (r *request) xInstance(in *Instance) xInstance {
	x := xInstance{
		InstanceID: in.ID, ImageID: in.ImageID, State: xStateOf(in.State), KeyName: in.KeyName,
		InstanceType: in.Type, LaunchTime: xmlTime(in.LaunchTime), AZ: in.AvailabilityZone, Tenancy: "default",
		Platform: in.Platform, Monitoring: "disabled", SourceDestCheck: in.SourceDestCheck,
		Architecture: in.Architecture, RootDeviceType: "ebs", RootDeviceName: in.RootDeviceName,
		VirtualizationType: "hvm", Hypervisor: "xen", Tags: xTags(in.Tags), EBSOptimized: in.EBSOptimized,
		PlatformDetails: "Linux/UNIX", UsageOperation: "RunInstances",
	}
	if in.Platform == "windows" {
		x.PlatformDetails, x.UsageOperation = "Windows", "RunInstances:0002"
	}
	if in.State != "terminated" {
		x.SubnetID, x.VPCID = in.SubnetID, in.VPCID
	}
	if in.StateReason != "" {
		x.Reason = in.StateReason
		x.StateReason = &struct {
			Code    string `xml:"code"`
			Message string `xml:"message"`
		}{"Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown: User initiated shutdown"}
	}
	x.Groups = r.xGroups(r.instanceGroups(in))
	for i, id := range in.NetworkInterfaces {
		eni := r.region.NetworkInterfaces[id]
		if eni == nil {
			continue
		}
		if i == 0 {
			x.PrivateIP, x.PrivateDNSName = eni.PrivateIP, eni.PrivateDNSName
			if in.State == "running" {
				x.PublicIP, x.DNSName = eni.PublicIP, eni.PublicDNSName
			}
		}
		x.NetworkInterfaces = append(x.NetworkInterfaces, r.xInstanceENI(eni))
	}
	for _, v := range r.region.volumesOf(in.ID) {
		x.BlockDevices = append(x.BlockDevices, xBlockDevice{DeviceName: v.Attachment.Device, EBS: xEBS{
			VolumeID: v.ID, Status: v.Attachment.State, AttachTime: xmlTime(v.Attachment.AttachTime), DeleteOnTermination: v.Attachment.DeleteOnTermination}})
	}
	if p := in.Profile; p != nil {
		x.IAMProfile = &xProfile{ARN: p.ProfileARN, ID: p.ProfileID}
	}
	return x
}

func (r *request) xInstanceENI(eni *NetworkInterface) xInstanceENI {
	x := xInstanceENI{
		ID: eni.ID, SubnetID: eni.SubnetID, VPCID: eni.VPCID, Description: eni.Description, OwnerID: r.acct.ID,
		Status: eni.Status, MACAddress: eni.MACAddress, PrivateIP: eni.PrivateIP, PrivateDNSName: eni.PrivateDNSName,
		SourceDestCheck: eni.SourceDestCheck, Groups: r.xGroups(eni.Groups), InterfaceType: "interface",
	}
	if a := eni.Attachment; a != nil {
		x.Attachment = &xENIAttachment{AttachmentID: a.ID, DeviceIndex: a.DeviceIndex, Status: a.Status, AttachTime: xmlTimePtr(a.AttachTime), DeleteOnTermination: a.DeleteOnTermination}
	}
	pip := xPrivateIP{PrivateIP: eni.PrivateIP, PrivateDNSName: eni.PrivateDNSName, Primary: true}
	if eni.PublicIP != "" {
		x.Association = &xAssociation{PublicIP: eni.PublicIP, PublicDNSName: eni.PublicDNSName, IPOwnerID: "amazon"}
		pip.Association = x.Association
	}
	x.PrivateIPs = []xPrivateIP{pip}
	return x
}

var instanceFields = fields[*Instance]{
	"instance-id":                            func(in *Instance) []string { return one(in.ID) },
	"instance-state-name":                    func(in *Instance) []string { return one(in.State) },
	"instance-state-code":                    func(in *Instance) []string { return one(strconv.Itoa(stateCodes[in.State])) },
	"instance-type":                          func(in *Instance) []string { return one(in.Type) },
	"image-id":                               func(in *Instance) []string { return one(in.ImageID) },
	"vpc-id":                                 func(in *Instance) []string { return one(in.VPCID) },
	"subnet-id":                              func(in *Instance) []string { return one(in.SubnetID) },
	"availability-zone":                      func(in *Instance) []string { return one(in.AvailabilityZone) },
	"key-name":                               func(in *Instance) []string { return one(in.KeyName) },
	"network-interface.network-interface-id": func(in *Instance) []string { return in.NetworkInterfaces },
	"iam-instance-profile.arn": func(in *Instance) []string {
		if in.Profile == nil {
			return nil
		}
		return one(in.Profile.ProfileARN)
	},
}

// regionFields are the instance filters that need the region's state.
func (r *request) instanceFilterFields() fields[*Instance] {
	f := fields[*Instance]{}
	for k, v := range instanceFields {
		f[k] = v
	}
	ips := func(public bool) func(*Instance) []string {
		return func(in *Instance) []string {
			var out []string
			for _, id := range in.NetworkInterfaces {
				if e := r.region.NetworkInterfaces[id]; e != nil {
					if public && e.PublicIP != "" {
						out = append(out, e.PublicIP)
					} else if !public {
						out = append(out, e.PrivateIP)
					}
				}
			}
			return out
		}
	}
	f["private-ip-address"] = ips(false)
	f["ip-address"] = ips(true)
	f["instance.group-id"] = r.instanceGroups
	f["instance.group-name"] = func(in *Instance) []string {
		var out []string
		for _, g := range r.instanceGroups(in) {
			if sg := r.region.SecurityGroups[g]; sg != nil {
				out = append(out, sg.Name)
			}
		}
		return out
	}
	return f
}

func describeInstances(r *request) (any, error) {
	ids := r.params.list("InstanceId")
	fs, err := r.filters()
	if err != nil {
		return nil, err
	}
	if err := r.resources(ids...); err != nil {
		return nil, err
	}
	var items []*Instance
	if len(ids) > 0 {
		if items, err = lookup(kindInstance, r.region.Instances, ids); err != nil {
			return nil, err
		}
	} else {
		for _, id := range sortedKeys(r.region.Instances) {
			items = append(items, r.region.Instances[id])
		}
	}
	if len(fs) > 0 {
		if items, err = applyFilters(items, fs, r.instanceFilterFields(), func(in *Instance) map[string]string { return in.Tags }); err != nil {
			return nil, err
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].ID < items[j].ID })
	list := make([]string, len(items))
	for i, in := range items {
		list[i] = in.ID
	}
	pageIDs, next, err := r.page(list, 5, 1000, len(ids) > 0)
	if err != nil {
		return nil, err
	}
	if err := r.dryRun(); err != nil {
		return nil, err
	}
	out := &struct {
		ec2Response
		Reservations []xReservation `xml:"reservationSet>item"`
		NextToken    string         `xml:"nextToken,omitempty"`
	}{NextToken: next}
	for _, id := range pageIDs {
		in := r.region.Instances[id]
		settle(in)
		out.Reservations = append(out.Reservations, xReservation{
			ReservationID: "r-0" + hexOf("reservation", in.ID, 16), OwnerID: r.acct.ID,
			Instances: []xInstance{r.xInstance(in)},
		})
	}
	return out, nil
}

// hexOf is a stable hex digest of key, for ids derived from other ids.
func hexOf(kind, key string, n int) string {
	s := sha256.Sum256([]byte(kind + "\x00" + key))
	return hex.EncodeToString(s[:])[:n]
}

// instance looks up the instance a request names in InstanceId.
func (r *request) instance() (*Instance, error) {
	id := r.params.get("InstanceId")
	if id == "" {
		return nil, missing("InstanceId")
	}
	if err := r.resources(id); err != nil {
		return nil, err
	}
	found, err := lookup(kindInstance, r.region.Instances, []string{id})
	if err != nil {
		return nil, err
	}
	return found[0], nil
}

// singleInterface returns an instance's only interface; EC2 refuses
// instance-level group operations on instances with several.
func (r *request) singleInterface(in *Instance) (*NetworkInterface, error) {
	if len(in.NetworkInterfaces) != 1 {
		return nil, ec2Err("InvalidInstanceID", "There are multiple interfaces attached to instance '%s'. Please specify an interface ID for the operation instead.", in.ID)
	}
	return r.region.NetworkInterfaces[in.NetworkInterfaces[0]], nil
}

var instanceAttributes = map[string]bool{
	"instanceType": true, "kernel": true, "ramdisk": true, "userData": true, "disableApiTermination": true,
	"instanceInitiatedShutdownBehavior": true, "rootDeviceName": true, "blockDeviceMapping": true,
	"productCodes": true, "sourceDestCheck": true, "groupSet": true, "ebsOptimized": true,
	"sriovNetSupport": true, "enaSupport": true, "enclaveOptions": true, "disableApiStop": true,
}

func describeInstanceAttribute(r *request) (any, error) {
	attr := r.params.get("Attribute")
	if attr == "" {
		return nil, missing("Attribute")
	}
	in, err := r.instance()
	if err != nil {
		return nil, err
	}
	if !instanceAttributes[attr] {
		return nil, ec2Err("InvalidParameterValue", "Value (%s) for parameter attribute is invalid. Unknown attribute.", attr)
	}
	if err := r.dryRun(); err != nil {
		return nil, err
	}
	out := &struct {
		ec2Response
		InstanceID            string      `xml:"instanceId"`
		DisableAPITermination *xBoolValue `xml:"disableApiTermination,omitempty"`
		DisableAPIStop        *xBoolValue `xml:"disableApiStop,omitempty"`
		ShutdownBehavior      *xValue     `xml:"instanceInitiatedShutdownBehavior,omitempty"`
		InstanceType          *xValue     `xml:"instanceType,omitempty"`
		Kernel                *xValue     `xml:"kernel,omitempty"`
		Ramdisk               *xValue     `xml:"ramdisk,omitempty"`
		UserData              *xValue     `xml:"userData,omitempty"`
		RootDeviceName        *xValue     `xml:"rootDeviceName,omitempty"`
		SourceDestCheck       *xBoolValue `xml:"sourceDestCheck,omitempty"`
		EBSOptimized          *xBoolValue `xml:"ebsOptimized,omitempty"`
		ENASupport            *xBoolValue `xml:"enaSupport,omitempty"`
		SriovNetSupport       *xValue     `xml:"sriovNetSupport,omitempty"`
		EnclaveOptions        *struct {
			Enabled bool `xml:"enabled"`
		} `xml:"enclaveOptions,omitempty"`
		Groups       []xGroup       `xml:"groupSet>item"`
		BlockDevices []xBlockDevice `xml:"blockDeviceMapping>item"`
		ProductCodes *struct{}      `xml:"productCodes,omitempty"`
	}{InstanceID: in.ID}
	switch attr {
	case "disableApiTermination":
		out.DisableAPITermination = &xBoolValue{in.DisableAPITermination}
	case "disableApiStop":
		out.DisableAPIStop = &xBoolValue{in.DisableAPIStop}
	case "instanceInitiatedShutdownBehavior":
		out.ShutdownBehavior = &xValue{in.ShutdownBehavior}
	case "instanceType":
		out.InstanceType = &xValue{in.Type}
	case "kernel":
		out.Kernel = &xValue{}
	case "ramdisk":
		out.Ramdisk = &xValue{}
	case "userData":
		out.UserData = &xValue{}
	case "rootDeviceName":
		out.RootDeviceName = &xValue{in.RootDeviceName}
	case "sourceDestCheck":
		out.SourceDestCheck = &xBoolValue{in.SourceDestCheck}
	case "ebsOptimized":
		out.EBSOptimized = &xBoolValue{in.EBSOptimized}
	case "enaSupport":
		out.ENASupport = &xBoolValue{true}
	case "sriovNetSupport":
		out.SriovNetSupport = &xValue{"simple"}
	case "enclaveOptions":
		out.EnclaveOptions = &struct {
			Enabled bool `xml:"enabled"`
		}{}
	case "productCodes":
		out.ProductCodes = &struct{}{}
	case "groupSet":
		eni, err := r.singleInterface(in)
		if err != nil {
			return nil, err
		}
		out.Groups = r.xGroups(eni.Groups)
	case "blockDeviceMapping":
		for _, v := range r.region.volumesOf(in.ID) {
			out.BlockDevices = append(out.BlockDevices, xBlockDevice{DeviceName: v.Attachment.Device, EBS: xEBS{
				VolumeID: v.ID, Status: v.Attachment.State, AttachTime: xmlTime(v.Attachment.AttachTime), DeleteOnTermination: v.Attachment.DeleteOnTermination}})
		}
	}
	return out, nil
}

// modifyInstanceAttribute changes exactly one attribute, given either as
// Attribute + Value or as its own structure, as EC2 requires.
func modifyInstanceAttribute(r *request) (any, error) {
	in, err := r.instance()
	if err != nil {
		return nil, err
	}
	p := r.params
	var given []string
	for _, k := range []string{"DisableApiTermination.Value", "DisableApiStop.Value", "InstanceInitiatedShutdownBehavior.Value",
		"InstanceType.Value", "SourceDestCheck.Value", "EbsOptimized.Value", "Attribute"} {
		if p.has(k) {
			given = append(given, strings.TrimSuffix(k, ".Value"))
		}
	}
	if len(p.items("BlockDeviceMapping")) > 0 {
		given = append(given, "BlockDeviceMapping")
	}
	if len(p.list("GroupId")) > 0 {
		given = append(given, "GroupId")
	}
	if len(given) == 0 {
		return nil, ec2Err("MissingParameter", "No attributes specified.")
	}
	if len(given) > 1 {
		return nil, ec2Err("InvalidParameterCombination", "Fields for multiple attribute types specified: %s", strings.Join(given, ", "))
	}
	if in.State == "terminated" || in.State == "shutting-down" {
		return nil, ec2Err("IncorrectInstanceState", "The instance '%s' is not in a state from which it can be modified.", in.ID)
	}

	attr, value := given[0], ""
	if attr == "Attribute" {
		attr, value = p.get("Attribute"), p.get("Value")
		if !p.has("Value") && attr != "groupSet" {
			return nil, missing("Value")
		}
		if attr == "groupSet" {
			attr = "GroupId"
		} else if !instanceAttributes[attr] {
			return nil, ec2Err("InvalidParameterValue", "Value (%s) for parameter attribute is invalid. Unknown attribute.", attr)
		}
		attr = strings.ToUpper(attr[:1]) + attr[1:]
		switch attr {
		case "DisableApiTermination", "DisableApiStop", "InstanceInitiatedShutdownBehavior", "InstanceType", "SourceDestCheck", "EbsOptimized", "GroupId":
		default:
			return nil, ec2Err("InvalidParameterValue", "Value (%s) for parameter attribute is invalid. The attribute cannot be modified this way.", p.get("Attribute"))
		}
	} else if attr != "BlockDeviceMapping" && attr != "GroupId" {
		value = p.get(attr + ".Value")
	}
	boolValue := func() (bool, error) {
		switch strings.ToLower(value) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return false, ec2Err("InvalidParameterValue", "Value (%s) for parameter %s is invalid. Expected a boolean.", value, attr)
	}

	// The instance, and the volumes or groups the change names (optional
	// resource types of ec2:ModifyInstanceAttribute).
	items := []authzItem{r.instanceItem(in)}
	var apply func()
	switch attr {
	case "DisableApiTermination", "DisableApiStop", "SourceDestCheck", "EbsOptimized":
		b, err := boolValue()
		if err != nil {
			return nil, err
		}
		apply = func() {
			switch attr {
			case "DisableApiTermination":
				in.DisableAPITermination = b
			case "DisableApiStop":
				in.DisableAPIStop = b
			case "SourceDestCheck":
				in.SourceDestCheck = b
				for _, id := range in.NetworkInterfaces {
					r.region.NetworkInterfaces[id].SourceDestCheck = b
				}
			case "EbsOptimized":
				in.EBSOptimized = b
			}
		}
	case "InstanceInitiatedShutdownBehavior":
		if value != "stop" && value != "terminate" {
			return nil, ec2Err("InvalidParameterValue", "Value (%s) for parameter instanceInitiatedShutdownBehavior is invalid. Valid values are stop and terminate.", value)
		}
		apply = func() { in.ShutdownBehavior = value }
	case "InstanceType":
		if !itypeRE.MatchString(value) {
			return nil, ec2Err("InvalidParameterValue", "Value (%s) for parameter instanceType is invalid.", value)
		}
		if in.State != "stopped" {
			return nil, ec2Err("IncorrectInstanceState", "The instance '%s' is not in the 'stopped' state.", in.ID)
		}
		apply = func() { in.Type = value }
	case "BlockDeviceMapping":
		type change struct {
			v   *Volume
			dot bool
		}
		var changes []change
		vols := r.region.volumesOf(in.ID)
		for _, it := range p.items("BlockDeviceMapping") {
			dev := p.get(it + ".DeviceName")
			if dev == "" {
				return nil, missing("BlockDeviceMapping.DeviceName")
			}
			dot, ok, err := p.bool(it + ".Ebs.DeleteOnTermination")
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, ec2Err("InvalidParameterCombination", "Only Ebs.DeleteOnTermination can be modified for device %s", dev)
			}
			var vol *Volume
			for _, v := range vols {
				if v.Attachment.Device == dev {
					vol = v
				}
			}
			if vol == nil {
				return nil, ec2Err("InvalidInstanceAttributeValue", "No device is currently mapped at %s", dev)
			}
			if vid := p.get(it + ".Ebs.VolumeId"); vid != "" && vid != vol.ID {
				return nil, ec2Err("InvalidParameterValue", "The volume %s is not attached at %s", vid, dev)
			}
			changes = append(changes, change{vol, dot})
			items = append(items, r.ec2Item("volume", vol.ID, vol.Tags, "ec2:VolumeID", vol.ID))
		}
		apply = func() {
			for _, c := range changes {
				c.v.Attachment.DeleteOnTermination = c.dot
			}
		}
	case "GroupId":
		groups := p.list("GroupId")
		if len(groups) == 0 && value != "" {
			groups = []string{value}
		}
		eni, err := r.singleInterface(in)
		if err != nil {
			return nil, err
		}
		groups, err = r.checkGroups(eni, groups)
		if err != nil {
			return nil, err
		}
		items = append(items, r.groupItems(groups)...)
		apply = func() { eni.Groups = groups }
	default:
		return nil, ec2Err("InvalidParameterValue", "Modifying attribute %s is not supported", attr)
	}
	if err := r.authorize(r.action(), items...); err != nil {
		return nil, err
	}
	if err := r.dryRun(); err != nil {
		return nil, err
	}
	apply()
	return nil, nil
}

// ---- network interfaces ----------------------------------------------------

type xNetworkInterface struct {
	ID               string          `xml:"networkInterfaceId"`
	SubnetID         string          `xml:"subnetId"`
	VPCID            string          `xml:"vpcId"`
	AvailabilityZone string          `xml:"availabilityZone"`
	Description      string          `xml:"description"`
	OwnerID          string          `xml:"ownerId"`
	RequesterManaged bool            `xml:"requesterManaged"`
	Status           string          `xml:"status"`
	MACAddress       string          `xml:"macAddress"`
	PrivateIP        string          `xml:"privateIpAddress"`
	PrivateDNSName   string          `xml:"privateDnsName"`
	SourceDestCheck  bool            `xml:"sourceDestCheck"`
	Groups           []xGroup        `xml:"groupSet>item"`
	Attachment       *xENIAttachment `xml:"attachment,omitempty"`
	Association      *xAssociation   `xml:"association,omitempty"`
	Tags             []xTag          `xml:"tagSet>item"`
	PrivateIPs       []xPrivateIP    `xml:"privateIpAddressesSet>item"`
	InterfaceType    string          `xml:"interfaceType"`
}

func (r *request) xNetworkInterface(e *NetworkInterface) xNetworkInterface {
	x := xNetworkInterface{
		ID: e.ID, SubnetID: e.SubnetID, VPCID: e.VPCID, AvailabilityZone: e.AvailabilityZone, Description: e.Description,
		OwnerID: r.acct.ID, Status: e.Status, MACAddress: e.MACAddress, PrivateIP: e.PrivateIP, PrivateDNSName: e.PrivateDNSName,
		SourceDestCheck: e.SourceDestCheck, Groups: r.xGroups(e.Groups), Tags: xTags(e.Tags), InterfaceType: "interface",
	}
	if a := e.Attachment; a != nil {
		x.Attachment = &xENIAttachment{AttachmentID: a.ID, InstanceID: a.InstanceID, InstanceOwnerID: r.acct.ID, DeviceIndex: a.DeviceIndex,
			Status: a.Status, AttachTime: xmlTimePtr(a.AttachTime), DeleteOnTermination: a.DeleteOnTermination}
	}
	pip := xPrivateIP{PrivateIP: e.PrivateIP, PrivateDNSName: e.PrivateDNSName, Primary: true}
	if e.PublicIP != "" {
		x.Association = &xAssociation{PublicIP: e.PublicIP, PublicDNSName: e.PublicDNSName, IPOwnerID: "amazon"}
		pip.Association = x.Association
	}
	x.PrivateIPs = []xPrivateIP{pip}
	return x
}

var eniFields = fields[*NetworkInterface]{
	"network-interface-id":         func(e *NetworkInterface) []string { return one(e.ID) },
	"vpc-id":                       func(e *NetworkInterface) []string { return one(e.VPCID) },
	"subnet-id":                    func(e *NetworkInterface) []string { return one(e.SubnetID) },
	"availability-zone":            func(e *NetworkInterface) []string { return one(e.AvailabilityZone) },
	"status":                       func(e *NetworkInterface) []string { return one(e.Status) },
	"group-id":                     func(e *NetworkInterface) []string { return e.Groups },
	"private-ip-address":           func(e *NetworkInterface) []string { return one(e.PrivateIP) },
	"addresses.private-ip-address": func(e *NetworkInterface) []string { return one(e.PrivateIP) },
	"association.public-ip": func(e *NetworkInterface) []string {
		if e.PublicIP == "" {
			return nil
		}
		return one(e.PublicIP)
	},
	"mac-address": func(e *NetworkInterface) []string { return one(e.MACAddress) },
	"attachment.instance-id": func(e *NetworkInterface) []string {
		if e.Attachment == nil {
			return nil
		}
		return one(e.Attachment.InstanceID)
	},
	"attachment.attachment-id": func(e *NetworkInterface) []string {
		if e.Attachment == nil {
			return nil
		}
		return one(e.Attachment.ID)
	},
	"attachment.device-index": func(e *NetworkInterface) []string {
		if e.Attachment == nil {
			return nil
		}
		return one(strconv.Itoa(e.Attachment.DeviceIndex))
	},
}

func describeNetworkInterfaces(r *request) (any, error) {
	ids := r.params.list("NetworkInterfaceId")
	fs, err := r.filters()
	if err != nil {
		return nil, err
	}
	var resIDs []string
	resIDs = append(resIDs, ids...)
	for _, f := range fs {
		if f.Name == "attachment.instance-id" {
			resIDs = append(resIDs, f.Values...)
		}
	}
	if err := r.resources(resIDs...); err != nil {
		return nil, err
	}
	var items []*NetworkInterface
	if len(ids) > 0 {
		if items, err = lookup(kindENI, r.region.NetworkInterfaces, ids); err != nil {
			return nil, err
		}
	} else {
		for _, id := range sortedKeys(r.region.NetworkInterfaces) {
			items = append(items, r.region.NetworkInterfaces[id])
		}
	}
	if items, err = applyFilters(items, fs, eniFields, func(e *NetworkInterface) map[string]string { return e.Tags }); err != nil {
		return nil, err
	}
	sort.Slice(items, func(i, j int) bool { return items[i].ID < items[j].ID })
	list := make([]string, len(items))
	for i, e := range items {
		list[i] = e.ID
	}
	pageIDs, next, err := r.page(list, 5, 1000, len(ids) > 0)
	if err != nil {
		return nil, err
	}
	if err := r.dryRun(); err != nil {
		return nil, err
	}
	out := &struct {
		ec2Response
		Interfaces []xNetworkInterface `xml:"networkInterfaceSet>item"`
		NextToken  string              `xml:"nextToken,omitempty"`
	}{NextToken: next}
	for _, id := range pageIDs {
		out.Interfaces = append(out.Interfaces, r.xNetworkInterface(r.region.NetworkInterfaces[id]))
	}
	return out, nil
}

// checkGroups validates a new group list for an interface: every group
// must exist in the interface's VPC. It returns the list without repeats.
func (r *request) checkGroups(eni *NetworkInterface, groups []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, g := range groups {
		if !sgRE.MatchString(g) {
			return nil, ec2Err("InvalidGroupId.Malformed", "Invalid id: \"%s\" (expecting \"sg-...\")", g)
		}
		sg := r.region.SecurityGroups[g]
		if sg == nil {
			return nil, ec2Err("InvalidGroup.NotFound", "The security group '%s' does not exist", g)
		}
		if sg.VPC != eni.VPCID {
			return nil, ec2Err("InvalidGroup.NotFound", "The security group '%s' does not exist in VPC '%s'", g, eni.VPCID)
		}
		if !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	if len(out) > 5 {
		return nil, ec2Err("SecurityGroupsPerInterfaceLimitExceeded", "The maximum number of security groups per interface has been reached.")
	}
	return out, nil
}

func modifyNetworkInterfaceAttribute(r *request) (any, error) {
	p := r.params
	id := p.get("NetworkInterfaceId")
	if id == "" {
		return nil, missing("NetworkInterfaceId")
	}
	groups := p.list("SecurityGroupId")
	if err := r.resources(append([]string{id}, groups...)...); err != nil {
		return nil, err
	}
	found, err := lookup(kindENI, r.region.NetworkInterfaces, []string{id})
	if err != nil {
		return nil, err
	}
	eni := found[0]
	var given []string
	if len(groups) > 0 {
		given = append(given, "SecurityGroupId")
	}
	for _, k := range []string{"Description.Value", "SourceDestCheck.Value", "Attachment.AttachmentId"} {
		if p.has(k) {
			given = append(given, k)
		}
	}
	if len(given) == 0 {
		return nil, ec2Err("MissingParameter", "You must specify an attribute to modify.")
	}
	if len(given) > 1 {
		return nil, ec2Err("InvalidParameterCombination", "Fields for multiple attribute types specified: %s", strings.Join(given, ", "))
	}
	// The interface, the groups it is given and the instance it is
	// attached to: ec2:ModifyNetworkInterfaceAttribute's network-interface*
	// and its optional instance and security-group resource types.
	items := []authzItem{r.eniItem(eni)}
	if eni.Attachment != nil {
		if in := r.region.Instances[eni.Attachment.InstanceID]; in != nil {
			items = append(items, r.instanceItem(in))
		}
	}
	var apply func()
	switch given[0] {
	case "SecurityGroupId":
		groups, err = r.checkGroups(eni, groups)
		if err != nil {
			return nil, err
		}
		items = append(items, r.groupItems(groups)...)
		apply = func() { eni.Groups = groups }
	case "Description.Value":
		d := p.get("Description.Value")
		apply = func() { eni.Description = d }
	case "SourceDestCheck.Value":
		b, _, err := p.bool("SourceDestCheck.Value")
		if err != nil {
			return nil, err
		}
		apply = func() { eni.SourceDestCheck = b }
	case "Attachment.AttachmentId":
		if eni.Attachment == nil || eni.Attachment.ID != p.get("Attachment.AttachmentId") {
			return nil, ec2Err("InvalidAttachmentID.NotFound", "The attachment ID '%s' does not exist", p.get("Attachment.AttachmentId"))
		}
		b, ok, err := p.bool("Attachment.DeleteOnTermination")
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, missing("Attachment.DeleteOnTermination")
		}
		apply = func() { eni.Attachment.DeleteOnTermination = b }
	}
	if err := r.authorize(r.action(), items...); err != nil {
		return nil, err
	}
	if err := r.dryRun(); err != nil {
		return nil, err
	}
	apply()
	return nil, nil
}

// ---- security groups -------------------------------------------------------

type xIPPermission struct {
	Protocol string `xml:"ipProtocol"`
	FromPort *int   `xml:"fromPort,omitempty"`
	ToPort   *int   `xml:"toPort,omitempty"`
	Groups   []struct {
		GroupID string `xml:"groupId"`
		UserID  string `xml:"userId"`
	} `xml:"groups>item"`
	IPRanges []struct {
		CIDR        string `xml:"cidrIp"`
		Description string `xml:"description,omitempty"`
	} `xml:"ipRanges>item"`
	IPv6Ranges []struct {
		CIDR        string `xml:"cidrIpv6"`
		Description string `xml:"description,omitempty"`
	} `xml:"ipv6Ranges>item"`
}

func xPermissions(rules []Rule, account string) []xIPPermission {
	out := make([]xIPPermission, 0, len(rules))
	for _, rule := range rules {
		x := xIPPermission{Protocol: rule.Protocol}
		if rule.Protocol != "-1" {
			from, to := rule.FromPort, rule.ToPort
			x.FromPort, x.ToPort = &from, &to
		}
		for _, g := range rule.Groups {
			x.Groups = append(x.Groups, struct {
				GroupID string `xml:"groupId"`
				UserID  string `xml:"userId"`
			}{g, account})
		}
		for _, c := range rule.CIDRs {
			x.IPRanges = append(x.IPRanges, struct {
				CIDR        string `xml:"cidrIp"`
				Description string `xml:"description,omitempty"`
			}{c, rule.Description})
		}
		for _, c := range rule.IPv6CIDRs {
			x.IPv6Ranges = append(x.IPv6Ranges, struct {
				CIDR        string `xml:"cidrIpv6"`
				Description string `xml:"description,omitempty"`
			}{c, rule.Description})
		}
		out = append(out, x)
	}
	return out
}

var groupFields = fields[*SecurityGroup]{
	"group-id":    func(g *SecurityGroup) []string { return one(g.ID) },
	"group-name":  func(g *SecurityGroup) []string { return one(g.Name) },
	"vpc-id":      func(g *SecurityGroup) []string { return one(g.VPC) },
	"description": func(g *SecurityGroup) []string { return one(g.Description) },
	"owner-id":    func(g *SecurityGroup) []string { return nil },
}

func describeSecurityGroups(r *request) (any, error) {
	ids := r.params.list("GroupId")
	names := r.params.list("GroupName")
	fs, err := r.filters()
	if err != nil {
		return nil, err
	}
	if err := r.resources(ids...); err != nil {
		return nil, err
	}
	var items []*SecurityGroup
	if len(ids) > 0 {
		if items, err = lookup(kindGroup, r.region.SecurityGroups, ids); err != nil {
			return nil, err
		}
	} else {
		for _, id := range sortedKeys(r.region.SecurityGroups) {
			items = append(items, r.region.SecurityGroups[id])
		}
	}
	if len(names) > 0 {
		var kept []*SecurityGroup
		for _, n := range names {
			found := false
			for _, g := range items {
				if g.Name == n {
					kept, found = append(kept, g), true
				}
			}
			if !found {
				return nil, ec2Err("InvalidGroup.NotFound", "The security group '%s' does not exist", n)
			}
		}
		items = kept
	}
	acct := r.acct.ID
	defs := fields[*SecurityGroup]{}
	for k, v := range groupFields {
		defs[k] = v
	}
	defs["owner-id"] = func(*SecurityGroup) []string { return one(acct) }
	if items, err = applyFilters(items, fs, defs, func(g *SecurityGroup) map[string]string { return g.Tags }); err != nil {
		return nil, err
	}
	sort.Slice(items, func(i, j int) bool { return items[i].ID < items[j].ID })
	list := make([]string, len(items))
	for i, g := range items {
		list[i] = g.ID
	}
	pageIDs, next, err := r.page(list, 5, 1000, len(ids) > 0 || len(names) > 0)
	if err != nil {
		return nil, err
	}
	if err := r.dryRun(); err != nil {
		return nil, err
	}
	type xGroupInfo struct {
		OwnerID     string          `xml:"ownerId"`
		GroupID     string          `xml:"groupId"`
		GroupName   string          `xml:"groupName"`
		Description string          `xml:"groupDescription"`
		VPCID       string          `xml:"vpcId"`
		ARN         string          `xml:"securityGroupArn"`
		Ingress     []xIPPermission `xml:"ipPermissions>item"`
		Egress      []xIPPermission `xml:"ipPermissionsEgress>item"`
		Tags        []xTag          `xml:"tagSet>item"`
	}
	out := &struct {
		ec2Response
		Groups    []xGroupInfo `xml:"securityGroupInfo>item"`
		NextToken string       `xml:"nextToken,omitempty"`
	}{NextToken: next}
	for _, id := range pageIDs {
		g := r.region.SecurityGroups[id]
		out.Groups = append(out.Groups, xGroupInfo{
			OwnerID: r.acct.ID, GroupID: g.ID, GroupName: g.Name, Description: g.Description, VPCID: g.VPC,
			ARN:     fmt.Sprintf("arn:aws:ec2:%s:%s:security-group/%s", r.region.Name, r.acct.ID, g.ID),
			Ingress: xPermissions(g.Ingress, r.acct.ID), Egress: xPermissions(g.Egress, r.acct.ID), Tags: xTags(g.Tags),
		})
	}
	return out, nil
}

// ---- tags ------------------------------------------------------------------

// taggable finds a resource's tags by id: a pointer, so that tags can be
// created on a resource that has none.
func (r *request) taggable(id string) (*map[string]string, string, error) {
	prefix, _, _ := strings.Cut(id, "-")
	var tags *map[string]string
	var typ string
	var err error
	switch prefix {
	case "i":
		if in := r.region.Instances[id]; in != nil {
			tags, typ = &in.Tags, "instance"
		} else {
			_, err = lookup(kindInstance, r.region.Instances, []string{id})
		}
	case "vol":
		if v := r.region.Volumes[id]; v != nil {
			tags, typ = &v.Tags, "volume"
		} else {
			_, err = lookup(kindVolume, r.region.Volumes, []string{id})
		}
	case "snap":
		if s := r.region.Snapshots[id]; s != nil {
			tags, typ = &s.Tags, "snapshot"
		} else {
			_, err = lookup(kindSnapshot, r.region.Snapshots, []string{id})
		}
	case "eni":
		if e := r.region.NetworkInterfaces[id]; e != nil {
			tags, typ = &e.Tags, "network-interface"
		} else {
			_, err = lookup(kindENI, r.region.NetworkInterfaces, []string{id})
		}
	case "sg":
		if g := r.region.SecurityGroups[id]; g != nil {
			tags, typ = &g.Tags, "security-group"
		} else {
			_, err = lookup(kindGroup, r.region.SecurityGroups, []string{id})
		}
	case "vpc":
		if v := r.region.VPCs[id]; v != nil {
			tags, typ = &v.Tags, "vpc"
		} else {
			err = ec2Err("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", id)
		}
	case "subnet":
		if s := r.region.Subnets[id]; s != nil {
			tags, typ = &s.Tags, "subnet"
		} else {
			err = ec2Err("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", id)
		}
	default:
		err = ec2Err("InvalidID", "The ID '%s' is not valid", id)
	}
	if err != nil {
		return nil, "", err
	}
	return tags, typ, nil
}

// tagInput reads Tag.N.Key / Tag.N.Value under prefix.
func (r *request) tagInput(prefix string, needValue bool) (map[string]*string, error) {
	out := map[string]*string{}
	for _, it := range r.params.items(prefix) {
		k := r.params.get(it + ".Key")
		if k == "" {
			return nil, ec2Err("InvalidParameterValue", "Tag key must not be empty")
		}
		if len(k) > 128 {
			return nil, ec2Err("InvalidParameterValue", "Tag key exceeds the maximum length of 128 characters")
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return nil, ec2Err("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use")
		}
		var v *string
		if r.params.has(it + ".Value") {
			s := r.params.get(it + ".Value")
			if len(s) > 256 {
				return nil, ec2Err("InvalidParameterValue", "Tag value exceeds the maximum length of 256 characters")
			}
			v = &s
		} else if needValue {
			s := ""
			v = &s
		}
		out[k] = v
	}
	return out, nil
}

func createTags(r *request) (any, error) {
	ids := r.params.list("ResourceId")
	if len(ids) == 0 {
		return nil, missing("ResourceId")
	}
	tags, err := r.tagInput("Tag", true)
	if err != nil {
		return nil, err
	}
	if len(tags) == 0 {
		return nil, missing("Tag")
	}
	if err := r.resources(ids...); err != nil {
		return nil, err
	}
	targets := make([]*map[string]string, 0, len(ids))
	var items []authzItem
	for _, id := range ids {
		t, typ, err := r.taggable(id)
		if err != nil {
			return nil, err
		}
		items = append(items, r.ec2Item(typ, id, *t))
		n := len(*t)
		for k := range tags {
			if _, ok := (*t)[k]; !ok {
				n++
			}
		}
		if n > 50 {
			return nil, ec2Err("TagLimitExceeded", "The maximum number of Tags for a resource has been reached.")
		}
		targets = append(targets, t)
	}
	requested := make(map[string]string, len(tags))
	for k, v := range tags {
		requested[k] = *v
	}
	r.setRequestTags(requested)
	if err := r.authorize(r.action(), items...); err != nil {
		return nil, err
	}
	if err := r.dryRun(); err != nil {
		return nil, err
	}
	for _, t := range targets {
		if *t == nil {
			*t = map[string]string{}
		}
		for k, v := range tags {
			(*t)[k] = *v
		}
	}
	return nil, nil
}

func deleteTags(r *request) (any, error) {
	ids := r.params.list("ResourceId")
	if len(ids) == 0 {
		return nil, missing("ResourceId")
	}
	tags, err := r.tagInput("Tag", false)
	if err != nil {
		return nil, err
	}
	if err := r.resources(ids...); err != nil {
		return nil, err
	}
	targets := make([]*map[string]string, 0, len(ids))
	var items []authzItem
	for _, id := range ids {
		t, typ, err := r.taggable(id)
		if err != nil {
			return nil, err
		}
		items = append(items, r.ec2Item(typ, id, *t))
		targets = append(targets, t)
	}
	if len(tags) > 0 {
		r.setRequestKey("aws:TagKeys", sortedKeys(tags)...)
	}
	if err := r.authorize(r.action(), items...); err != nil {
		return nil, err
	}
	if err := r.dryRun(); err != nil {
		return nil, err
	}
	for _, t := range targets {
		if len(tags) == 0 {
			// No Tag parameter deletes every tag, as EC2 does.
			*t = nil
			continue
		}
		for k, v := range tags {
			if cur, ok := (*t)[k]; ok && (v == nil || *v == cur) {
				delete(*t, k)
			}
		}
	}
	return nil, nil
}

func describeTags(r *request) (any, error) {
	fs, err := r.filters()
	if err != nil {
		return nil, err
	}
	type tagRow struct{ id, typ, key, value string }
	var rows []tagRow
	add := func(id, typ string, tags map[string]string) {
		for k, v := range tags {
			rows = append(rows, tagRow{id, typ, k, v})
		}
	}
	reg := r.region
	for id, v := range reg.Instances {
		add(id, "instance", v.Tags)
	}
	for id, v := range reg.Volumes {
		add(id, "volume", v.Tags)
	}
	for id, v := range reg.Snapshots {
		add(id, "snapshot", v.Tags)
	}
	for id, v := range reg.NetworkInterfaces {
		add(id, "network-interface", v.Tags)
	}
	for id, v := range reg.SecurityGroups {
		add(id, "security-group", v.Tags)
	}
	for id, v := range reg.VPCs {
		add(id, "vpc", v.Tags)
	}
	for id, v := range reg.Subnets {
		add(id, "subnet", v.Tags)
	}
	var ids []string
	for _, f := range fs {
		if f.Name == "resource-id" {
			ids = append(ids, f.Values...)
		}
	}
	if err := r.resources(ids...); err != nil {
		return nil, err
	}
	defs := fields[tagRow]{
		"resource-id":   func(t tagRow) []string { return one(t.id) },
		"resource-type": func(t tagRow) []string { return one(t.typ) },
		"key":           func(t tagRow) []string { return one(t.key) },
		"value":         func(t tagRow) []string { return one(t.value) },
	}
	rows, err = applyFilters(rows, fs, defs, func(t tagRow) map[string]string { return map[string]string{t.key: t.value} })
	if err != nil {
		return nil, err
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].id != rows[j].id {
			return rows[i].id < rows[j].id
		}
		return rows[i].key < rows[j].key
	})
	keys := make([]string, len(rows))
	byKey := make(map[string]tagRow, len(rows))
	for i, t := range rows {
		keys[i] = t.id + "\x01" + t.key
		byKey[keys[i]] = t
	}
	pageKeys, next, err := r.page(keys, 5, 1000, false)
	if err != nil {
		return nil, err
	}
	if err := r.dryRun(); err != nil {
		return nil, err
	}
	type xTagDescription struct {
		ResourceID   string `xml:"resourceId"`
		ResourceType string `xml:"resourceType"`
		Key          string `xml:"key"`
		Value        string `xml:"value"`
	}
	out := &struct {
		ec2Response
		Tags      []xTagDescription `xml:"tagSet>item"`
		NextToken string            `xml:"nextToken,omitempty"`
	}{NextToken: next}
	for _, k := range pageKeys {
		t := byKey[k]
		out.Tags = append(out.Tags, xTagDescription{t.id, t.typ, t.key, t.value})
	}
	return out, nil
}

// ---- volumes and snapshots -------------------------------------------------

type xVolumeAttachment struct {
	VolumeID            string  `xml:"volumeId"`
	InstanceID          string  `xml:"instanceId"`
	Device              string  `xml:"device"`
	Status              string  `xml:"status"`
	AttachTime          xmlTime `xml:"attachTime"`
	DeleteOnTermination bool    `xml:"deleteOnTermination"`
}

type xVolume struct {
	VolumeID         string              `xml:"volumeId"`
	Size             int                 `xml:"size"`
	SnapshotID       string              `xml:"snapshotId"`
	AvailabilityZone string              `xml:"availabilityZone"`
	Status           string              `xml:"status"`
	CreateTime       xmlTime             `xml:"createTime"`
	Attachments      []xVolumeAttachment `xml:"attachmentSet>item"`
	Tags             []xTag              `xml:"tagSet>item"`
	VolumeType       string              `xml:"volumeType"`
	IOPS             int                 `xml:"iops,omitempty"`
	Throughput       int                 `xml:"throughput,omitempty"`
	Encrypted        bool                `xml:"encrypted"`
	KMSKeyID         string              `xml:"kmsKeyId,omitempty"`
	MultiAttach      bool                `xml:"multiAttachEnabled"`
}

var volumeFields = fields[*Volume]{
	"volume-id":         func(v *Volume) []string { return one(v.ID) },
	"status":            func(v *Volume) []string { return one(v.State) },
	"size":              func(v *Volume) []string { return one(strconv.Itoa(v.SizeGB)) },
	"volume-type":       func(v *Volume) []string { return one(v.Type) },
	"availability-zone": func(v *Volume) []string { return one(v.AvailabilityZone) },
	"encrypted":         func(v *Volume) []string { return one(strconv.FormatBool(v.Encrypted)) },
	"snapshot-id":       func(v *Volume) []string { return one(v.SnapshotID) },
	"attachment.instance-id": func(v *Volume) []string {
		if v.Attachment == nil {
			return nil
		}
		return one(v.Attachment.InstanceID)
	},
	"attachment.device": func(v *Volume) []string {
		if v.Attachment == nil {
			return nil
		}
		return one(v.Attachment.Device)
	},
	"attachment.status": func(v *Volume) []string {
		if v.Attachment == nil {
			return nil
		}
		return one(v.Attachment.State)
	},
	"attachment.delete-on-termination": func(v *Volume) []string {
		if v.Attachment == nil {
			return nil
		}
		return one(strconv.FormatBool(v.Attachment.DeleteOnTermination))
	},
}

func describeVolumes(r *request) (any, error) {
	ids := r.params.list("VolumeId")
	fs, err := r.filters()
	if err != nil {
		return nil, err
	}
	resIDs := append([]string{}, ids...)
	for _, f := range fs {
		if f.Name == "attachment.instance-id" {
			resIDs = append(resIDs, f.Values...)
		}
	}
	if err := r.resources(resIDs...); err != nil {
		return nil, err
	}
	var items []*Volume
	if len(ids) > 0 {
		if items, err = lookup(kindVolume, r.region.Volumes, ids); err != nil {
			return nil, err
		}
	} else {
		for _, id := range sortedKeys(r.region.Volumes) {
			items = append(items, r.region.Volumes[id])
		}
	}
	if items, err = applyFilters(items, fs, volumeFields, func(v *Volume) map[string]string { return v.Tags }); err != nil {
		return nil, err
	}
	sort.Slice(items, func(i, j int) bool { return items[i].ID < items[j].ID })
	list := make([]string, len(items))
	for i, v := range items {
		list[i] = v.ID
	}
	pageIDs, next, err := r.page(list, 5, 500, len(ids) > 0)
	if err != nil {
		return nil, err
	}
	if err := r.dryRun(); err != nil {
		return nil, err
	}
	out := &struct {
		ec2Response
		Volumes   []xVolume `xml:"volumeSet>item"`
		NextToken string    `xml:"nextToken,omitempty"`
	}{NextToken: next}
	for _, id := range pageIDs {
		v := r.region.Volumes[id]
		x := xVolume{VolumeID: v.ID, Size: v.SizeGB, SnapshotID: v.SnapshotID, AvailabilityZone: v.AvailabilityZone,
			Status: v.State, CreateTime: xmlTime(v.Created), Tags: xTags(v.Tags), VolumeType: v.Type, IOPS: v.IOPS,
			Throughput: v.Throughput, Encrypted: v.Encrypted, KMSKeyID: v.KMSKeyID}
		if a := v.Attachment; a != nil {
			x.Attachments = []xVolumeAttachment{{VolumeID: v.ID, InstanceID: a.InstanceID, Device: a.Device, Status: a.State,
				AttachTime: xmlTime(a.AttachTime), DeleteOnTermination: a.DeleteOnTermination}}
		}
		out.Volumes = append(out.Volumes, x)
	}
	return out, nil
}

type xSnapshot struct {
	SnapshotID  string  `xml:"snapshotId"`
	VolumeID    string  `xml:"volumeId"`
	Status      string  `xml:"status"`
	StartTime   xmlTime `xml:"startTime"`
	Progress    string  `xml:"progress"`
	OwnerID     string  `xml:"ownerId"`
	VolumeSize  int     `xml:"volumeSize"`
	Description string  `xml:"description"`
	Encrypted   bool    `xml:"encrypted"`
	KMSKeyID    string  `xml:"kmsKeyId,omitempty"`
	StateMsg    string  `xml:"statusMessage,omitempty"`
	StorageTier string  `xml:"storageTier"`
	Tags        []xTag  `xml:"tagSet>item"`
}

func xSnapshotOf(s *Snapshot) xSnapshot {
	x := xSnapshot{SnapshotID: s.ID, VolumeID: s.VolumeID, Status: s.State, StartTime: xmlTime(s.StartTime), Progress: s.Progress,
		OwnerID: s.OwnerID, VolumeSize: s.VolumeSizeGB, Description: s.Description, Encrypted: s.Encrypted, KMSKeyID: s.KMSKeyID,
		StorageTier: "standard", Tags: xTags(s.Tags)}
	if s.State == "error" {
		x.StateMsg = s.StateMessage
	}
	return x
}

// tagSpecifications reads TagSpecification.N for resource type want.
func (r *request) tagSpecifications(want string) (map[string]string, error) {
	out := map[string]string{}
	for _, it := range r.params.items("TagSpecification") {
		typ := r.params.get(it + ".ResourceType")
		if typ != want {
			return nil, ec2Err("InvalidParameterValue", "'%s' is not a valid taggable resource type for this operation.", typ)
		}
		tags, err := r.tagInput(it+".Tag", true)
		if err != nil {
			return nil, err
		}
		for k, v := range tags {
			out[k] = *v
		}
	}
	if len(out) > 50 {
		return nil, ec2Err("TagLimitExceeded", "The maximum number of Tags for a resource has been reached.")
	}
	return out, nil
}

// authorizeCreateTags authorizes tagging resources as they are created
// (TagSpecifications): ec2:CreateTags on each, with ec2:CreateAction
// naming the creating action, when the request carries tags.
func (r *request) authorizeCreateTags(createAction string, tags map[string]string, created ...authzItem) error {
	if len(tags) == 0 {
		return nil
	}
	items := make([]authzItem, len(created))
	for i, it := range created {
		keys := make(map[string][]string, len(it.keys)+1)
		for k, v := range it.keys {
			keys[k] = v
		}
		keys["ec2:createaction"] = []string{createAction}
		items[i] = authzItem{arn: it.arn, keys: keys}
	}
	return r.authorize("ec2:CreateTags", items...)
}

// newSnapshot starts a snapshot of v. It shows "pending" in the response,
// then completes after the configured number of DescribeSnapshots calls.
func (r *request) newSnapshot(v *Volume, desc string, tags map[string]string) *Snapshot {
	s := &Snapshot{
		ID: r.e.ids.resourceID("snap", v.ID), VolumeID: v.ID, VolumeSizeGB: v.SizeGB, Description: desc, State: "pending",
		OwnerID: r.acct.ID, Encrypted: v.Encrypted, KMSKeyID: v.KMSKeyID, StartTime: r.now, RemainingCalls: r.e.opts.snapshotDelay,
	}
	if len(tags) > 0 {
		s.Tags = tags
	}
	stored := *s
	stored.Tags = cloneTags(tags)
	if stored.RemainingCalls == 0 {
		stored.State, stored.Progress = "completed", "100%"
	}
	r.region.Snapshots[s.ID] = &stored
	return s
}

func createSnapshot(r *request) (any, error) {
	id := r.params.get("VolumeId")
	if id == "" {
		return nil, missing("VolumeId")
	}
	if err := r.resources(id); err != nil {
		return nil, err
	}
	found, err := lookup(kindVolume, r.region.Volumes, []string{id})
	if err != nil {
		return nil, err
	}
	desc := r.params.get("Description")
	if len(desc) > 255 {
		return nil, ec2Err("InvalidParameterValue", "The description must be at most 255 characters")
	}
	tags, err := r.tagSpecifications("snapshot")
	if err != nil {
		return nil, err
	}
	v := found[0]
	// ec2:CreateSnapshot's volume* and snapshot* resources; tags applied
	// at creation also need ec2:CreateTags on the new snapshot.
	r.setRequestTags(tags)
	snap := r.ec2Item("snapshot", "*", nil, "ec2:ParentVolume", r.ec2Item("volume", v.ID, nil).arn)
	if err := r.authorize(r.action(), r.ec2Item("volume", v.ID, v.Tags, "ec2:VolumeID", v.ID), snap); err != nil {
		return nil, err
	}
	if err := r.authorizeCreateTags("CreateSnapshot", tags, snap); err != nil {
		return nil, err
	}
	if err := r.dryRun(); err != nil {
		return nil, err
	}
	s := r.newSnapshot(v, desc, tags)
	x := xSnapshotOf(s)
	x.Progress = ""
	return &struct {
		ec2Response
		xSnapshot
	}{xSnapshot: x}, nil
}

func createSnapshots(r *request) (any, error) {
	p := r.params
	id := p.get("InstanceSpecification.InstanceId")
	if id == "" {
		return nil, missing("InstanceSpecification.InstanceId")
	}
	exclude := p.list("InstanceSpecification.ExcludeDataVolumeId")
	if err := r.resources(append([]string{id}, exclude...)...); err != nil {
		return nil, err
	}
	found, err := lookup(kindInstance, r.region.Instances, []string{id})
	if err != nil {
		return nil, err
	}
	in := found[0]
	if in.State == "terminated" || in.State == "shutting-down" {
		return nil, ec2Err("IncorrectInstanceState", "The instance '%s' is not in a state from which its volumes can be snapshotted.", in.ID)
	}
	excludeBoot, _, err := p.bool("InstanceSpecification.ExcludeBootVolume")
	if err != nil {
		return nil, err
	}
	copyTags := false
	switch c := p.get("CopyTagsFromSource"); c {
	case "":
	case "volume":
		copyTags = true
	default:
		return nil, ec2Err("InvalidParameterValue", "Value (%s) for parameter CopyTagsFromSource is invalid. Valid value: volume", c)
	}
	desc := p.get("Description")
	tags, err := r.tagSpecifications("snapshot")
	if err != nil {
		return nil, err
	}
	var vols []*Volume
	for _, v := range r.region.volumesOf(in.ID) {
		if excludeBoot && v.Attachment.Device == in.RootDeviceName {
			continue
		}
		if contains(exclude, v.ID) {
			continue
		}
		vols = append(vols, v)
	}
	for _, x := range exclude {
		v := r.region.Volumes[x]
		if v == nil || v.Attachment == nil || v.Attachment.InstanceID != in.ID {
			return nil, ec2Err("InvalidParameterValue", "The volume %s is not attached to instance %s", x, in.ID)
		}
		// Only data volumes are excluded by id; the root volume has its
		// own flag, ExcludeBootVolume.
		if v.Attachment.Device == in.RootDeviceName {
			return nil, ec2Err("InvalidParameterValue", "The volume %s is the root volume of instance %s; use ExcludeBootVolume to exclude it", x, in.ID)
		}
	}
	if len(vols) == 0 {
		return nil, ec2Err("InvalidParameterValue", "Instance %s has no volumes to snapshot after the exclusions", in.ID)
	}
	// ec2:CreateSnapshots' instance*, volume* and snapshot* resources;
	// tags applied at creation also need ec2:CreateTags on the snapshots.
	r.setRequestTags(tags)
	items := []authzItem{r.instanceItem(in)}
	var snaps []authzItem
	for _, v := range vols {
		items = append(items, r.ec2Item("volume", v.ID, v.Tags, "ec2:VolumeID", v.ID))
		snaps = append(snaps, r.ec2Item("snapshot", "*", nil, "ec2:ParentVolume", r.ec2Item("volume", v.ID, nil).arn))
	}
	if err := r.authorize(r.action(), append(items, snaps...)...); err != nil {
		return nil, err
	}
	if err := r.authorizeCreateTags("CreateSnapshots", tags, snaps...); err != nil {
		return nil, err
	}
	if err := r.dryRun(); err != nil {
		return nil, err
	}
	type xSnapshotInfo struct {
		SnapshotID  string  `xml:"snapshotId"`
		VolumeID    string  `xml:"volumeId"`
		State       string  `xml:"state"`
		StartTime   xmlTime `xml:"startTime"`
		Progress    string  `xml:"progress"`
		OwnerID     string  `xml:"ownerId"`
		VolumeSize  int     `xml:"volumeSize"`
		Description string  `xml:"description"`
		Encrypted   bool    `xml:"encrypted"`
		Tags        []xTag  `xml:"tagSet>item"`
	}
	out := &struct {
		ec2Response
		Snapshots []xSnapshotInfo `xml:"snapshotSet>item"`
	}{}
	for _, v := range vols {
		t := map[string]string{}
		if copyTags {
			for k, val := range v.Tags {
				t[k] = val
			}
		}
		for k, val := range tags {
			t[k] = val
		}
		s := r.newSnapshot(v, desc, t)
		out.Snapshots = append(out.Snapshots, xSnapshotInfo{SnapshotID: s.ID, VolumeID: s.VolumeID, State: s.State, StartTime: xmlTime(s.StartTime),
			Progress: "", OwnerID: s.OwnerID, VolumeSize: s.VolumeSizeGB, Description: s.Description, Encrypted: s.Encrypted, Tags: xTags(s.Tags)})
	}
	return out, nil
}

var snapshotFields = fields[*Snapshot]{
	"snapshot-id": func(s *Snapshot) []string { return one(s.ID) },
	"volume-id":   func(s *Snapshot) []string { return one(s.VolumeID) },
	"status":      func(s *Snapshot) []string { return one(s.State) },
	"owner-id":    func(s *Snapshot) []string { return one(s.OwnerID) },
	"description": func(s *Snapshot) []string { return one(s.Description) },
	"volume-size": func(s *Snapshot) []string { return one(strconv.Itoa(s.VolumeSizeGB)) },
	"encrypted":   func(s *Snapshot) []string { return one(strconv.FormatBool(s.Encrypted)) },
	"progress":    func(s *Snapshot) []string { return one(s.Progress) },
}

func describeSnapshots(r *request) (any, error) {
	ids := r.params.list("SnapshotId")
	owners := r.params.list("Owner")
	fs, err := r.filters()
	if err != nil {
		return nil, err
	}
	if err := r.resources(ids...); err != nil {
		return nil, err
	}
	for _, o := range owners {
		if o != "self" && o != "amazon" && o != "aws-marketplace" && !accountRE.MatchString(o) {
			return nil, ec2Err("InvalidUserID.Malformed", "Invalid user id: \"%s\"", o)
		}
	}
	var items []*Snapshot
	if len(ids) > 0 {
		if items, err = lookup(kindSnapshot, r.region.Snapshots, ids); err != nil {
			return nil, err
		}
	} else {
		for _, id := range sortedKeys(r.region.Snapshots) {
			items = append(items, r.region.Snapshots[id])
		}
	}
	if len(owners) > 0 {
		mine := false
		for _, o := range owners {
			mine = mine || o == "self" || o == r.acct.ID
		}
		if !mine {
			items = nil
		}
	}
	if items, err = applyFilters(items, fs, snapshotFields, func(s *Snapshot) map[string]string { return s.Tags }); err != nil {
		return nil, err
	}
	sort.Slice(items, func(i, j int) bool { return items[i].ID < items[j].ID })
	list := make([]string, len(items))
	for i, s := range items {
		list[i] = s.ID
	}
	pageIDs, next, err := r.page(list, 5, 1000, len(ids) > 0)
	if err != nil {
		return nil, err
	}
	if err := r.dryRun(); err != nil {
		return nil, err
	}
	out := &struct {
		ec2Response
		Snapshots []xSnapshot `xml:"snapshotSet>item"`
		NextToken string      `xml:"nextToken,omitempty"`
	}{NextToken: next}
	for _, id := range pageIDs {
		s := r.region.Snapshots[id]
		if s.State == "pending" {
			if s.RemainingCalls <= 0 {
				s.settle()
			} else {
				s.RemainingCalls--
				s.Progress = "50%"
			}
		}
		out.Snapshots = append(out.Snapshots, xSnapshotOf(s))
	}
	return out, nil
}

// ---- stop and start --------------------------------------------------------

type xStateChange struct {
	InstanceID    string `xml:"instanceId"`
	CurrentState  xState `xml:"currentState"`
	PreviousState xState `xml:"previousState"`
}

// instancesParam looks up InstanceId.N, at least one.
func (r *request) instancesParam() ([]*Instance, error) {
	ids := r.params.list("InstanceId")
	if len(ids) == 0 {
		return nil, missing("InstanceId")
	}
	if err := r.resources(ids...); err != nil {
		return nil, err
	}
	return lookup(kindInstance, r.region.Instances, ids)
}

func stopInstances(r *request) (any, error) {
	ins, err := r.instancesParam()
	if err != nil {
		return nil, err
	}
	for _, in := range ins {
		switch in.State {
		case "running", "stopping", "stopped":
		default:
			return nil, ec2Err("IncorrectInstanceState", "This instance '%s' is not in a state from which it can be stopped.", in.ID)
		}
		if in.DisableAPIStop {
			return nil, ec2Err("OperationNotPermitted", "The instance '%s' may not be stopped. Modify its 'disableApiStop' instance attribute and try again.", in.ID)
		}
	}
	if err := r.authorizeInstances(ins...); err != nil {
		return nil, err
	}
	if err := r.dryRun(); err != nil {
		return nil, err
	}
	out := &struct {
		ec2Response
		Changes []xStateChange `xml:"instancesSet>item"`
	}{}
	for _, in := range ins {
		prev := in.State
		cur := prev
		if prev == "running" {
			cur = "stopping"
			in.StateReason = fmt.Sprintf("User initiated (%s)", r.now.Format("2006-01-02 15:04:05 MST"))
			r.transition(in, "stopping", "stopped")
		}
		out.Changes = append(out.Changes, xStateChange{in.ID, xStateOf(cur), xStateOf(prev)})
	}
	return out, nil
}

func startInstances(r *request) (any, error) {
	ins, err := r.instancesParam()
	if err != nil {
		return nil, err
	}
	for _, in := range ins {
		switch in.State {
		case "stopped", "pending", "running":
		default:
			return nil, ec2Err("IncorrectInstanceState", "The instance '%s' is not in a state from which it can be started.", in.ID)
		}
	}
	if err := r.authorizeInstances(ins...); err != nil {
		return nil, err
	}
	if err := r.dryRun(); err != nil {
		return nil, err
	}
	out := &struct {
		ec2Response
		Changes []xStateChange `xml:"instancesSet>item"`
	}{}
	for _, in := range ins {
		prev := in.State
		cur := prev
		if prev == "stopped" {
			cur = "pending"
			in.StateReason = ""
			r.transition(in, "pending", "running")
		}
		out.Changes = append(out.Changes, xStateChange{in.ID, xStateOf(cur), xStateOf(prev)})
	}
	return out, nil
}

// authorizeInstances authorizes the request's action on instances, its
// only (required) resource type.
func (r *request) authorizeInstances(ins ...*Instance) error {
	items := make([]authzItem, len(ins))
	for i, in := range ins {
		items[i] = r.instanceItem(in)
	}
	return r.authorize(r.action(), items...)
}

// authorizePassRole authorizes iam:PassRole of a profile's role to EC2,
// which associating the profile with an instance does (a dependent
// action of ec2:AssociateIamInstanceProfile in the Service Authorization
// Reference), with iam:PassedToService and iam:AssociatedResourceArn.
func (r *request) authorizePassRole(ip *InstanceProfile, in *Instance) error {
	role := r.acct.Roles[ip.Role]
	if role == nil {
		return nil // a profile without a role passes none
	}
	it := iamItem(role.ARN, role.Tags)
	it.keys["iam:passedtoservice"] = []string{"ec2.amazonaws.com"}
	it.keys["iam:associatedresourcearn"] = []string{r.instanceItem(in).arn}
	return r.authorize("iam:PassRole", it)
}

// transition moves an instance through a transitional state, at once or
// over the configured number of DescribeInstances calls.
func (r *request) transition(in *Instance, via, to string) {
	if n := r.e.opts.transitionDelay; n > 0 {
		in.State, in.Transition = via, &Transition{To: to, RemainingCalls: n}
		return
	}
	in.State, in.Transition = to, nil
}

// ---- instance profile associations ----------------------------------------

type xProfileAssociation struct {
	AssociationID string   `xml:"associationId"`
	InstanceID    string   `xml:"instanceId"`
	Profile       xProfile `xml:"iamInstanceProfile"`
	State         string   `xml:"state"`
	Timestamp     *xmlTime `xml:"timestamp,omitempty"`
}

func xAssociationOf(in *Instance, state string) xProfileAssociation {
	p := in.Profile
	return xProfileAssociation{AssociationID: p.ID, InstanceID: in.ID, Profile: xProfile{ARN: p.ProfileARN, ID: p.ProfileID}, State: state, Timestamp: xmlTimePtr(p.Time)}
}

// association finds an instance by its profile association id.
func (r *request) association(id string) (*Instance, error) {
	if !strings.HasPrefix(id, "iip-assoc-") {
		return nil, ec2Err("InvalidParameterValue", "Value (%s) for parameter associationId is invalid.", id)
	}
	for _, in := range r.region.Instances {
		if in.Profile != nil && in.Profile.ID == id {
			return in, nil
		}
	}
	return nil, ec2Err("InvalidAssociationID.NotFound", "The association %s is not found", id)
}

func describeIamInstanceProfileAssociations(r *request) (any, error) {
	ids := r.params.list("AssociationId")
	fs, err := r.filters()
	if err != nil {
		return nil, err
	}
	var resIDs []string
	resIDs = append(resIDs, ids...)
	for _, f := range fs {
		if f.Name == "instance-id" {
			resIDs = append(resIDs, f.Values...)
		}
	}
	if err := r.resources(resIDs...); err != nil {
		return nil, err
	}
	var items []*Instance
	if len(ids) > 0 {
		for _, id := range ids {
			in, err := r.association(id)
			if err != nil {
				return nil, err
			}
			items = append(items, in)
		}
	} else {
		for _, id := range sortedKeys(r.region.Instances) {
			if in := r.region.Instances[id]; in.Profile != nil {
				items = append(items, in)
			}
		}
	}
	defs := fields[*Instance]{
		"instance-id": func(in *Instance) []string { return one(in.ID) },
		"state":       func(in *Instance) []string { return one(in.Profile.State) },
	}
	if items, err = applyFilters(items, fs, defs, nil); err != nil {
		return nil, err
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Profile.ID < items[j].Profile.ID })
	list := make([]string, len(items))
	byAssoc := map[string]*Instance{}
	for i, in := range items {
		list[i] = in.Profile.ID
		byAssoc[in.Profile.ID] = in
	}
	pageIDs, next, err := r.page(list, 5, 1000, len(ids) > 0)
	if err != nil {
		return nil, err
	}
	if err := r.dryRun(); err != nil {
		return nil, err
	}
	out := &struct {
		ec2Response
		Associations []xProfileAssociation `xml:"iamInstanceProfileAssociationSet>item"`
		NextToken    string                `xml:"nextToken,omitempty"`
	}{NextToken: next}
	for _, id := range pageIDs {
		in := byAssoc[id]
		out.Associations = append(out.Associations, xAssociationOf(in, in.Profile.State))
	}
	return out, nil
}

// profileParam resolves IamInstanceProfile.Arn or .Name in the caller's account.
func (r *request) profileParam() (*InstanceProfile, error) {
	arn, name := r.params.get("IamInstanceProfile.Arn"), r.params.get("IamInstanceProfile.Name")
	if arn == "" && name == "" {
		return nil, missing("IamInstanceProfile")
	}
	for _, ip := range r.acct.InstanceProfiles {
		if (arn == "" || ip.ARN == arn) && (name == "" || ip.Name == name) {
			return ip, nil
		}
	}
	if arn != "" {
		return nil, ec2Err("InvalidParameterValue", "Value (%s) for parameter iamInstanceProfile.arn is invalid. Invalid IAM Instance Profile ARN", arn)
	}
	return nil, ec2Err("InvalidParameterValue", "Value (%s) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name", name)
}

func associateIamInstanceProfile(r *request) (any, error) {
	in, err := r.instance()
	if err != nil {
		return nil, err
	}
	ip, err := r.profileParam()
	if err != nil {
		return nil, err
	}
	if in.State != "running" && in.State != "stopped" && in.State != "pending" && in.State != "stopping" {
		return nil, ec2Err("IncorrectInstanceState", "The instance '%s' is not in a valid state for this operation.", in.ID)
	}
	if in.Profile != nil {
		return nil, ec2Err("IncorrectState", "There is an existing association for instance %s", in.ID)
	}
	if err := r.authorizeInstances(in); err != nil {
		return nil, err
	}
	if err := r.authorizePassRole(ip, in); err != nil {
		return nil, err
	}
	if err := r.dryRun(); err != nil {
		return nil, err
	}
	in.Profile = &ProfileAssociation{ID: r.e.ids.hex("iip-assoc-0", in.ID, 16), ProfileARN: ip.ARN, ProfileID: ip.ID, State: "associated", Time: r.now}
	return &struct {
		ec2Response
		Association xProfileAssociation `xml:"iamInstanceProfileAssociation"`
	}{Association: xAssociationOf(in, "associating")}, nil
}

func disassociateIamInstanceProfile(r *request) (any, error) {
	id := r.params.get("AssociationId")
	if id == "" {
		return nil, missing("AssociationId")
	}
	if err := r.resources(id); err != nil {
		return nil, err
	}
	in, err := r.association(id)
	if err != nil {
		return nil, err
	}
	if err := r.resources(in.ID); err != nil {
		return nil, err
	}
	if err := r.authorizeInstances(in); err != nil {
		return nil, err
	}
	if err := r.dryRun(); err != nil {
		return nil, err
	}
	x := xAssociationOf(in, "disassociating")
	in.Profile = nil
	return &struct {
		ec2Response
		Association xProfileAssociation `xml:"iamInstanceProfileAssociation"`
	}{Association: x}, nil
}

func replaceIamInstanceProfileAssociation(r *request) (any, error) {
	id := r.params.get("AssociationId")
	if id == "" {
		return nil, missing("AssociationId")
	}
	if err := r.resources(id); err != nil {
		return nil, err
	}
	in, err := r.association(id)
	if err != nil {
		return nil, err
	}
	if err := r.resources(in.ID); err != nil {
		return nil, err
	}
	ip, err := r.profileParam()
	if err != nil {
		return nil, err
	}
	if err := r.authorizeInstances(in); err != nil {
		return nil, err
	}
	if err := r.authorizePassRole(ip, in); err != nil {
		return nil, err
	}
	if err := r.dryRun(); err != nil {
		return nil, err
	}
	in.Profile = &ProfileAssociation{ID: r.e.ids.hex("iip-assoc-0", in.ID, 16), ProfileARN: ip.ARN, ProfileID: ip.ID, State: "associated", Time: r.now}
	return &struct {
		ec2Response
		Association xProfileAssociation `xml:"iamInstanceProfileAssociation"`
	}{Association: xAssociationOf(in, "associating")}, nil
}

// ---- console ---------------------------------------------------------------

// consoleOutputLimit is how much of the console EC2 returns: the last 64 KB.
const consoleOutputLimit = 64 << 10

func getConsoleOutput(r *request) (any, error) {
	in, err := r.instance()
	if err != nil {
		return nil, err
	}
	if err := r.authorizeInstances(in); err != nil {
		return nil, err
	}
	if err := r.dryRun(); err != nil {
		return nil, err
	}
	text := in.ConsoleOutput
	if len(text) > consoleOutputLimit {
		text = text[len(text)-consoleOutputLimit:]
	}
	return &struct {
		ec2Response
		InstanceID string  `xml:"instanceId"`
		Timestamp  xmlTime `xml:"timestamp"`
		Output     string  `xml:"output"`
	}{InstanceID: in.ID, Timestamp: xmlTime(r.now), Output: base64.StdEncoding.EncodeToString([]byte(text))}, nil
}

func getConsoleScreenshot(r *request) (any, error) {
	in, err := r.instance()
	if err != nil {
		return nil, err
	}
	if in.State != "running" {
		return nil, ec2Err("IncorrectInstanceState", "The instance '%s' is not in the 'running' state.", in.ID)
	}
	// A bare metal instance runs on no hypervisor, so there is no virtual
	// display to capture.
	if strings.HasSuffix(in.Type, ".metal") {
		return nil, ec2Err("UnsupportedOperation", "The instance '%s' is of type '%s', which does not support console screenshots.", in.ID, in.Type)
	}
	if err := r.authorizeInstances(in); err != nil {
		return nil, err
	}
	if err := r.dryRun(); err != nil {
		return nil, err
	}
	return &struct {
		ec2Response
		InstanceID string `xml:"instanceId"`
		ImageData  string `xml:"imageData"`
	}{InstanceID: in.ID, ImageData: base64.StdEncoding.EncodeToString(in.Screenshot)}, nil
}
