package awsemu

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// SSM speaks awsJson1_1 (X-Amz-Target: AmazonSSM.Op).
var ssmAPI = jsonErrors(&api{id: "ssm", prefix: "ssm", protocol: protoJSON})

func init() {
	ssmAPI.ops = map[string]handler{
		"DescribeInstanceInformation": describeInstanceInformation,
		"SendCommand":                 sendCommand,
		"GetCommandInvocation":        getCommandInvocation,
		"CancelCommand":               cancelCommand,
	}
}

// CommandResult is what SSM Run Command reports for an instance.
type CommandResult struct {
	Stdout   string
	Stderr   string
	ExitCode int
	// Polls is how many GetCommandInvocation calls see InProgress before the
	// command finishes; -1: it never finishes and times out after its
	// executionTimeout (3600 s unless the command sets one).
	Polls int
}

// SetCommandOutput registers what a Run Command prints on an instance and
// its exit code, for commands sent from now on. The command stays
// InProgress for the seed's command_polls polls.
func (e *Emulator) SetCommandOutput(instanceID, stdout string, exitCode int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.results[instanceID] = CommandResult{Stdout: stdout, ExitCode: exitCode, Polls: e.opts.commandPolls}
}

// SetCommandResult registers the full result of a Run Command on an
// instance, for commands sent from now on.
func (e *Emulator) SetCommandResult(instanceID string, res CommandResult) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.results[instanceID] = res
}

func ssmErr(code, format string, args ...any) *apiError { return errf(400, code, format, args...) }

// SSM truncates the output it returns inline to these many characters.
const (
	stdoutLimit = 24000
	stderrLimit = 8000
)

type ssmInstanceInformation struct {
	InstanceId       string     `json:"InstanceId"`
	PingStatus       string     `json:"PingStatus"`
	LastPingDateTime *epochTime `json:"LastPingDateTime,omitempty"`
	AgentVersion     string     `json:"AgentVersion"`
	IsLatestVersion  bool       `json:"IsLatestVersion"`
	PlatformType     string     `json:"PlatformType"`
	PlatformName     string     `json:"PlatformName"`
	PlatformVersion  string     `json:"PlatformVersion"`
	ResourceType     string     `json:"ResourceType"`
	IPAddress        string     `json:"IPAddress"`
	ComputerName     string     `json:"ComputerName"`
	SourceId         string     `json:"SourceId"`
	SourceType       string     `json:"SourceType"`
}

func (r *request) ssmInfo(in *Instance) ssmInstanceInformation {
	x := ssmInstanceInformation{InstanceId: in.ID, PingStatus: "Online", LastPingDateTime: epochPtr(r.now),
		AgentVersion: "3.3.1142.0", IsLatestVersion: true, PlatformType: "Linux", PlatformName: "Amazon Linux",
		PlatformVersion: "2023", ResourceType: "EC2Instance", SourceId: in.ID, SourceType: "AWS::EC2::Instance"}
	if in.State != "running" {
		x.PingStatus = "ConnectionLost"
	}
	if in.Platform == "windows" {
		x.PlatformType, x.PlatformName, x.PlatformVersion = "Windows", "Microsoft Windows Server 2022 Datacenter", "10.0.20348"
	}
	if len(in.NetworkInterfaces) > 0 {
		if e := r.region.NetworkInterfaces[in.NetworkInterfaces[0]]; e != nil {
			x.IPAddress = e.PrivateIP
			x.ComputerName = e.PrivateDNSName
		}
	}
	return x
}

func describeInstanceInformation(r *request) (any, error) {
	var in struct {
		Filters []struct {
			Key    string
			Values []string
		}
		InstanceInformationFilterList []struct {
			Key      string   `json:"key"`
			ValueSet []string `json:"valueSet"`
		}
		MaxResults *int
		NextToken  string
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	if len(in.Filters) > 0 && len(in.InstanceInformationFilterList) > 0 {
		return nil, ssmErr("InvalidFilter", "Filters and InstanceInformationFilterList cannot be used together.")
	}
	type cond struct {
		key    string
		values []string
	}
	var conds []cond
	strict := false // InstanceInformationFilterList rejects unknown instance ids
	for _, f := range in.Filters {
		switch f.Key {
		case "InstanceIds", "PingStatus", "PlatformTypes", "ResourceType", "AgentVersion":
		default:
			if !strings.HasPrefix(f.Key, "tag:") {
				return nil, ssmErr("InvalidFilterKey", "The filter key %s is not valid.", f.Key)
			}
		}
		if len(f.Values) == 0 {
			return nil, ssmErr("InvalidFilterValue", "The filter %s has no values.", f.Key)
		}
		conds = append(conds, cond{f.Key, f.Values})
	}
	for _, f := range in.InstanceInformationFilterList {
		switch f.Key {
		case "InstanceIds", "PingStatus", "PlatformTypes", "ResourceType", "AgentVersion":
		default:
			return nil, ssmErr("InvalidInstanceInformationFilterValue", "The filter key %s is not valid.", f.Key)
		}
		if len(f.ValueSet) == 0 {
			return nil, ssmErr("InvalidInstanceInformationFilterValue", "The filter %s has no values.", f.Key)
		}
		conds = append(conds, cond{f.Key, f.ValueSet})
		strict = strict || f.Key == "InstanceIds"
	}
	max := 50
	if in.MaxResults != nil {
		if *in.MaxResults < 5 || *in.MaxResults > 50 {
			return nil, ssmErr("ValidationException", "1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value between 5 and 50", *in.MaxResults)
		}
		max = *in.MaxResults
	}
	var ids []string
	for _, c := range conds {
		if c.key == "InstanceIds" {
			ids = append(ids, c.values...)
		}
	}
	if err := r.resources(ids...); err != nil {
		return nil, err
	}
	if strict {
		for _, id := range ids {
			if in := r.region.Instances[id]; in == nil || !in.SSMManaged {
				return nil, ssmErr("InvalidInstanceId", "Instance %s is not a managed node.", id)
			}
		}
	}

	var list []string
	for _, id := range sortedKeys(r.region.Instances) {
		inst := r.region.Instances[id]
		if !inst.SSMManaged || inst.State == "terminated" {
			continue
		}
		info := r.ssmInfo(inst)
		keep := true
		for _, c := range conds {
			var have string
			switch c.key {
			case "InstanceIds":
				have = info.InstanceId
			case "PingStatus":
				have = info.PingStatus
			case "PlatformTypes":
				have = info.PlatformType
			case "ResourceType":
				have = info.ResourceType
			case "AgentVersion":
				have = info.AgentVersion
			default:
				have = inst.Tags[strings.TrimPrefix(c.key, "tag:")]
			}
			keep = keep && contains(c.values, have)
		}
		if keep {
			list = append(list, id)
		}
	}
	start := 0
	if in.NextToken != "" {
		last, ok := decodeToken(r.op, in.NextToken)
		if !ok {
			return nil, ssmErr("InvalidNextToken", "The specified token is not valid.")
		}
		start = sort.SearchStrings(list, last)
		if start < len(list) && list[start] == last {
			start++
		}
	}
	list = list[start:]
	out := struct {
		InstanceInformationList []ssmInstanceInformation `json:"InstanceInformationList"`
		NextToken               string                   `json:"NextToken,omitempty"`
	}{InstanceInformationList: []ssmInstanceInformation{}}
	if len(list) > max {
		out.NextToken = encodeToken(r.op, list[max-1])
		list = list[:max]
	}
	for _, id := range list {
		out.InstanceInformationList = append(out.InstanceInformationList, r.ssmInfo(r.region.Instances[id]))
	}
	return out, nil
}

var ssmDocuments = map[string]struct {
	platform, plugin string
}{
	"AWS-RunShellScript":      {"Linux", "aws:runShellScript"},
	"AWS-RunPowerShellScript": {"Windows", "aws:runPowerShellScript"},
}

func sendCommand(r *request) (any, error) {
	var in struct {
		DocumentName string
		InstanceIds  []string
		Targets      []struct {
			Key    string
			Values []string
		}
		Parameters     map[string][]string
		TimeoutSeconds *int
		Comment        string
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	if in.DocumentName == "" {
		return nil, ssmErr("ValidationException", "1 validation error detected: Value null at 'documentName' failed to satisfy constraint: Member must not be null")
	}
	ids := in.InstanceIds
	for _, t := range in.Targets {
		if t.Key != "InstanceIds" {
			return nil, ssmErr("InvalidTarget", "Target key %s is not supported by this emulator; use InstanceIds.", t.Key)
		}
		ids = append(ids, t.Values...)
	}
	if len(ids) == 0 {
		return nil, ssmErr("ValidationException", "Either InstanceIds or Targets must be specified.")
	}
	if len(ids) > 50 {
		return nil, ssmErr("ValidationException", "1 validation error detected: Value at 'instanceIds' failed to satisfy constraint: Member must have length less than or equal to 50")
	}
	if len(in.Comment) > 100 {
		return nil, ssmErr("ValidationException", "1 validation error detected: Value at 'comment' failed to satisfy constraint: Member must have length less than or equal to 100")
	}
	timeout := 3600
	if in.TimeoutSeconds != nil {
		if *in.TimeoutSeconds < 30 || *in.TimeoutSeconds > 2592000 {
			return nil, ssmErr("ValidationException", "1 validation error detected: Value '%d' at 'timeoutSeconds' failed to satisfy constraint: Member must have value between 30 and 2592000", *in.TimeoutSeconds)
		}
		timeout = *in.TimeoutSeconds
	}
	if err := r.resources(ids...); err != nil {
		return nil, err
	}
	doc, ok := ssmDocuments[in.DocumentName]
	if !ok {
		return nil, ssmErr("InvalidDocument", "Document with name %s does not exist.", in.DocumentName)
	}
	execTimeout := 3600
	for k, v := range in.Parameters {
		switch k {
		case "commands":
		case "workingDirectory":
		case "executionTimeout":
			n, err := strconv.Atoi(strings.Join(v, ""))
			if err != nil || len(v) != 1 || n < 1 || n > 172800 {
				return nil, ssmErr("InvalidParameters", "Parameter \"executionTimeout\" must be a number of seconds between 1 and 172800.")
			}
			execTimeout = n
		default:
			return nil, ssmErr("InvalidParameters", "Document %s does not support parameter %q.", in.DocumentName, k)
		}
	}
	if len(in.Parameters["commands"]) == 0 {
		return nil, ssmErr("InvalidParameters", "Parameter \"commands\" is required.")
	}
	seen := map[string]bool{}
	var unique []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			unique = append(unique, id)
		}
	}
	// ssm:SendCommand's document* resource (an AWS-owned document's ARN
	// has no account) and its instance resources, whose tags are
	// ssm:resourceTag keys, are authorized before the instances are
	// looked at, as IAM answers before the service does.
	items := []authzItem{{arn: fmt.Sprintf("arn:aws:ssm:%s::document/%s", r.region.Name, in.DocumentName),
		keys: map[string][]string{"ssm:documenttype": {"Command"}}}}
	for _, id := range unique {
		var tags map[string]string
		if inst := r.region.Instances[id]; inst != nil {
			tags = inst.Tags
		}
		items = append(items, authzItem{arn: fmt.Sprintf("arn:aws:ec2:%s:%s:instance/%s", r.region.Name, r.acct.ID, id),
			keys: tagKeys(tags, "ssm:resourceTag/", "aws:ResourceTag/")})
	}
	if err := r.authorize(r.action(), items...); err != nil {
		return nil, err
	}
	var bad []string
	for _, id := range unique {
		inst := r.region.Instances[id]
		if inst == nil || !inst.SSMManaged || inst.State != "running" {
			bad = append(bad, id)
			continue
		}
		if platform := "Linux"; inst.Platform == "windows" {
			platform = "Windows"
			if doc.platform != platform {
				return nil, ssmErr("UnsupportedPlatformType", "The document %s is not supported on platform %s of instance %s.", in.DocumentName, platform, id)
			}
		} else if doc.platform != platform {
			return nil, ssmErr("UnsupportedPlatformType", "The document %s is not supported on platform %s of instance %s.", in.DocumentName, platform, id)
		}
	}
	if len(bad) > 0 {
		return nil, ssmErr("InvalidInstanceId", "Instances [[%s]] not in a valid state for account %s", strings.Join(bad, ", "), r.acct.ID)
	}

	cmd := &Command{
		ID: r.e.ids.uuid("command", r.acct.ID+"/"+r.region.Name+"/"+strings.Join(unique, ",")), DocumentName: in.DocumentName,
		Comment: in.Comment, Parameters: in.Parameters, InstanceIDs: unique, Requested: r.now, TimeoutSeconds: timeout,
		Invocations: map[string]*Invocation{},
	}
	for _, id := range unique {
		res, ok := r.e.results[id]
		if !ok {
			res = CommandResult{Polls: r.e.opts.commandPolls}
		}
		cmd.Invocations[id] = &Invocation{InstanceID: id, Status: "Pending", Details: "Pending", Stdout: res.Stdout, Stderr: res.Stderr,
			ExitCode: res.ExitCode, HiddenPolls: r.e.opts.invocationDelay, RunningPolls: res.Polls, ExecutionTimeout: execTimeout}
	}
	r.e.startMemoryPlayback(cmd)
	r.region.Commands[cmd.ID] = cmd
	r.call.ResourceIDs = append(r.call.ResourceIDs, cmd.ID)

	type command struct {
		CommandId         string              `json:"CommandId"`
		DocumentName      string              `json:"DocumentName"`
		DocumentVersion   string              `json:"DocumentVersion"`
		Comment           string              `json:"Comment"`
		ExpiresAfter      epochTime           `json:"ExpiresAfter"`
		Parameters        map[string][]string `json:"Parameters"`
		InstanceIds       []string            `json:"InstanceIds"`
		Targets           []struct{}          `json:"Targets"`
		RequestedDateTime epochTime           `json:"RequestedDateTime"`
		Status            string              `json:"Status"`
		StatusDetails     string              `json:"StatusDetails"`
		MaxConcurrency    string              `json:"MaxConcurrency"`
		MaxErrors         string              `json:"MaxErrors"`
		TargetCount       int                 `json:"TargetCount"`
		CompletedCount    int                 `json:"CompletedCount"`
		ErrorCount        int                 `json:"ErrorCount"`
		DeliveryTimedOut  int                 `json:"DeliveryTimedOutCount"`
		TimeoutSeconds    int                 `json:"TimeoutSeconds"`
	}
	return struct {
		Command command `json:"Command"`
	}{command{
		CommandId: cmd.ID, DocumentName: cmd.DocumentName, DocumentVersion: "$DEFAULT", Comment: cmd.Comment,
		ExpiresAfter: epochTime(r.now.Add(time.Duration(timeout) * time.Second)), Parameters: cmd.Parameters,
		InstanceIds: cmd.InstanceIDs, Targets: []struct{}{}, RequestedDateTime: epochTime(r.now), Status: "Pending",
		StatusDetails: "Pending", MaxConcurrency: "50", MaxErrors: "0", TargetCount: len(unique), TimeoutSeconds: timeout,
	}}, nil
}

var commandIDRE = regexp.MustCompile(`^[0-9a-f-]{36}$`)

func getCommandInvocation(r *request) (any, error) {
	var in struct {
		CommandId  string
		InstanceId string
		PluginName string
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	if len(in.CommandId) != 36 {
		return nil, ssmErr("ValidationException", "1 validation error detected: Value '%s' at 'commandId' failed to satisfy constraint: Member must have length equal to 36", in.CommandId)
	}
	if in.InstanceId == "" {
		return nil, ssmErr("ValidationException", "1 validation error detected: Value null at 'instanceId' failed to satisfy constraint: Member must not be null")
	}
	if !commandIDRE.MatchString(in.CommandId) {
		return nil, ssmErr("InvalidCommandId", "The command ID %s is not valid.", in.CommandId)
	}
	if !instanceRE.MatchString(in.InstanceId) {
		return nil, ssmErr("InvalidInstanceId", "Instance id %s is not valid.", in.InstanceId)
	}
	if err := r.resources(in.InstanceId, in.CommandId); err != nil {
		return nil, err
	}
	notYet := ssmErr("InvocationDoesNotExist", "An error occurred (InvocationDoesNotExist) when calling the GetCommandInvocation operation")
	cmd := r.region.Commands[in.CommandId]
	if cmd == nil {
		return nil, notYet
	}
	inv := cmd.Invocations[in.InstanceId]
	if inv == nil {
		return nil, notYet
	}
	plugin := ssmDocuments[cmd.DocumentName].plugin
	if in.PluginName != "" && in.PluginName != plugin {
		return nil, ssmErr("InvalidPluginName", "The plugin name %s is not valid for document %s.", in.PluginName, cmd.DocumentName)
	}
	if inv.HiddenPolls > 0 {
		inv.HiddenPolls--
		return nil, notYet
	}
	r.advance(inv)

	out := struct {
		CommandId              string `json:"CommandId"`
		InstanceId             string `json:"InstanceId"`
		Comment                string `json:"Comment"`
		DocumentName           string `json:"DocumentName"`
		DocumentVersion        string `json:"DocumentVersion"`
		PluginName             string `json:"PluginName"`
		ResponseCode           int    `json:"ResponseCode"`
		ExecutionStartDateTime string `json:"ExecutionStartDateTime"`
		ExecutionElapsedTime   string `json:"ExecutionElapsedTime"`
		ExecutionEndDateTime   string `json:"ExecutionEndDateTime"`
		Status                 string `json:"Status"`
		StatusDetails          string `json:"StatusDetails"`
		StandardOutputContent  string `json:"StandardOutputContent"`
		StandardOutputUrl      string `json:"StandardOutputUrl"`
		StandardErrorContent   string `json:"StandardErrorContent"`
		StandardErrorUrl       string `json:"StandardErrorUrl"`
		CloudWatchOutputConfig struct {
			CloudWatchLogGroupName  string `json:"CloudWatchLogGroupName"`
			CloudWatchOutputEnabled bool   `json:"CloudWatchOutputEnabled"`
		} `json:"CloudWatchOutputConfig"`
	}{
		CommandId: cmd.ID, InstanceId: inv.InstanceID, Comment: cmd.Comment, DocumentName: cmd.DocumentName,
		DocumentVersion: "$DEFAULT", PluginName: plugin, ResponseCode: -1, Status: inv.Status, StatusDetails: inv.Details,
	}
	const layout = "2006-01-02T15:04:05.000Z"
	if !inv.Start.IsZero() {
		out.ExecutionStartDateTime = inv.Start.Format(layout)
	}
	if !inv.End.IsZero() {
		out.ExecutionEndDateTime = inv.End.Format(layout)
		out.ExecutionElapsedTime = fmt.Sprintf("PT%.3fS", inv.End.Sub(inv.Start).Seconds())
		out.StandardOutputContent = truncateChars(inv.Stdout, stdoutLimit)
		out.StandardErrorContent = truncateChars(inv.Stderr, stderrLimit)
		out.ResponseCode = inv.ExitCode
	}
	return out, nil
}

// cancelCommand stops a command's invocations that have not finished:
// they end Cancelled (SSM passes through Cancelling; the emulator's agent
// stops at once). Finished ones keep their result, as in SSM.
func cancelCommand(r *request) (any, error) {
	var in struct {
		CommandId   string
		InstanceIds []string
	}
	if err := r.decode(&in); err != nil {
		return nil, err
	}
	if len(in.CommandId) != 36 {
		return nil, ssmErr("ValidationException", "1 validation error detected: Value '%s' at 'commandId' failed to satisfy constraint: Member must have length equal to 36", in.CommandId)
	}
	if len(in.InstanceIds) > 50 {
		return nil, ssmErr("ValidationException", "1 validation error detected: Value at 'instanceIds' failed to satisfy constraint: Member must have length less than or equal to 50")
	}
	if err := r.resources(append([]string{in.CommandId}, in.InstanceIds...)...); err != nil {
		return nil, err
	}
	cmd := r.region.Commands[in.CommandId]
	if cmd == nil || !commandIDRE.MatchString(in.CommandId) {
		return nil, ssmErr("InvalidCommandId", "The command ID %s is not valid.", in.CommandId)
	}
	ids := in.InstanceIds
	if len(ids) == 0 {
		ids = cmd.InstanceIDs
	}
	for _, id := range ids {
		inv := cmd.Invocations[id]
		if inv == nil {
			return nil, ssmErr("InvalidInstanceId", "Instance %s is not a target of command %s.", id, cmd.ID)
		}
	}
	for _, id := range ids {
		inv := cmd.Invocations[id]
		switch inv.Status {
		case "Success", "Failed", "TimedOut", "Cancelled":
			continue
		}
		if inv.Start.IsZero() {
			inv.Start = r.now
		}
		inv.HiddenPolls = 0
		inv.Status, inv.Details, inv.ExitCode, inv.End = "Cancelled", "Cancelled", -1, r.now
		r.e.stopPlayback(cmd.ID, id)
	}
	return struct{}{}, nil
}

// advance moves an invocation on by one poll: InProgress for its running
// polls, then Success or Failed by its exit code; one that runs forever
// times out once its execution timeout has passed on the emulator's clock.
func (r *request) advance(inv *Invocation) {
	switch inv.Status {
	case "Success", "Failed", "TimedOut", "Cancelled":
		return
	}
	if inv.Start.IsZero() {
		inv.Start = r.now
	}
	switch {
	case inv.RunningPolls > 0:
		inv.RunningPolls--
		inv.Status, inv.Details = "InProgress", "InProgress"
	case inv.RunningPolls < 0:
		inv.Status, inv.Details = "InProgress", "InProgress"
		if !r.now.Before(inv.Start.Add(time.Duration(inv.ExecutionTimeout) * time.Second)) {
			inv.Status, inv.Details, inv.ExitCode, inv.End = "TimedOut", "ExecutionTimedOut", -1, r.now
		}
	default:
		inv.End = r.now
		if inv.ExitCode == 0 {
			inv.Status, inv.Details = "Success", "Success"
		} else {
			inv.Status, inv.Details = "Failed", "Failed"
		}
	}
}

// truncateChars keeps the first n characters of s.
func truncateChars(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for k := range s {
		if i == n {
			return s[:k]
		}
		i++
	}
	return s
}
