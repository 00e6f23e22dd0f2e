package schema

import "strings"

// GuardDuty Runtime Monitoring findings on containers. GuardDuty reports
// a container's runtime activity with the resource it knows the container
// by: resourceType "Container" (containerDetails, for a container on an
// EC2 instance outside ECS and EKS), "ECSCluster" (ecsClusterDetails, the
// task and its containers in taskDetails) or "EKSCluster"
// (eksClusterDetails, the pod in kubernetesDetails.kubernetesWorkloadDetails);
// when the container runs on an EC2 instance (EC2 launch type, EKS node,
// a Docker host) instanceDetails names that host.
//
// What a responder can act on is the host: isolating, snapshotting or
// stopping the instance contains every container on it, and cordon has no
// action that stops one container. So when the finding names a host, the
// host (aws_instance) is the primary resource, with the container in its
// details.container, and an EC2 rule listing Execution:Runtime/* matches
// it. The task, service, pod and cluster follow as more resources, each
// with its own type. Without a host (Fargate) the primary resource is the
// cluster, or the container itself when the finding names no cluster,
// again with the container in details.container.
//
// Type names follow Terraform where it has the resource: aws_ecs_cluster,
// aws_ecs_service (a task's group "service:NAME"), aws_eks_cluster, and the
// Kubernetes provider's kubernetes_pod, kubernetes_deployment … for a
// workload. A running ECS task has no Terraform resource; it is
// aws_ecs_task, named as aws_account is, and a container is "container".

// Resource types of the container runtime, besides ResourceECSCluster,
// ResourceEKSCluster and ResourceContainer.
const (
	// ResourceECSTask is a running ECS task, which Terraform does not
	// model (aws_ecs_task_definition is its definition).
	ResourceECSTask    = "aws_ecs_task"
	ResourceECSService = "aws_ecs_service"
	// ResourceKubernetesPod and the other kubernetes_ types are the
	// Terraform Kubernetes provider's names of a workload.
	ResourceKubernetesPod         = "kubernetes_pod"
	ResourceKubernetesDeployment  = "kubernetes_deployment"
	ResourceKubernetesDaemonSet   = "kubernetes_daemonset"
	ResourceKubernetesStatefulSet = "kubernetes_stateful_set"
	ResourceKubernetesJob         = "kubernetes_job"
	ResourceKubernetesCronJob     = "kubernetes_cron_job"
	// ResourceKubernetesWorkload is a workload of a kind the Kubernetes
	// provider has no resource for; details.workload_type says which.
	ResourceKubernetesWorkload = "kubernetes_workload"
)

// kubernetesTypes maps GuardDuty's kubernetesWorkloadDetails.type (the
// Kubernetes kind, singular or plural, any case) to the Kubernetes
// provider's resource names.
var kubernetesTypes = map[string]string{
	"pod":         ResourceKubernetesPod,
	"deployment":  ResourceKubernetesDeployment,
	"daemonset":   ResourceKubernetesDaemonSet,
	"statefulset": ResourceKubernetesStatefulSet,
	"job":         ResourceKubernetesJob,
	"cronjob":     ResourceKubernetesCronJob,
}

// containerResources maps the resource block of a finding about a
// container, as described above. It reports ok = false for a finding that
// is not about a container, which is mapped as resourceType says. used
// marks the detail blocks it has read.
func containerResources(res map[string]any, rtype string) (rs []Resource, used [numBlocks]bool, ok bool) {
	ecs := obj(res, "ecsClusterDetails")
	task := obj(ecs, "taskDetails")
	eks := obj(res, "eksClusterDetails")
	workload := pathObj(res, "kubernetesDetails", "kubernetesWorkloadDetails")

	var container map[string]any
	switch rtype {
	case "Container":
		container = obj(res, "containerDetails")
	case "ECSCluster":
		container = firstObject(obj(res, "containerDetails"), arr(task, "containers"))
	case "EKSCluster":
		container = firstObject(obj(res, "containerDetails"), arr(workload, "containers"))
	}
	if container == nil {
		return nil, used, false
	}
	details := containerDetails(container)

	var host *Resource
	if d := obj(res, "instanceDetails"); d != nil && str(d, "instanceId") != "" {
		h := gdInstance(d)
		host = &h
		used[blockInstance] = true
	}

	var owners []Resource // what the container belongs to, innermost first
	if task != nil {
		t := ecsTask(task, ecs)
		owners = append(owners, t)
		if svc, ok := ecsService(task, ecs); ok {
			owners = append(owners, svc)
		}
	}
	if ecs != nil {
		owners = append(owners, gdNamed(ResourceECSCluster, ecs, "name", "arn", "status", "status"))
		used[blockECS] = true
	}
	if workload != nil {
		owners = append(owners, kubernetesWorkload(workload))
	}
	if eks != nil {
		owners = append(owners, gdNamed(ResourceEKSCluster, eks, "name", "arn",
			"vpc_id", "vpcId", "status", "status"))
		used[blockEKS] = true
	}
	self := newResource(ResourceContainer, str(container, "id"), "")
	for k, v := range details {
		self.Details[k] = v
	}
	used[blockContainer] = true

	// The primary: the host; else the cluster (the ECS or EKS owner the
	// finding is typed by); else the container.
	var primary Resource
	switch {
	case host != nil:
		primary = *host
	case rtype == "ECSCluster" && ecs != nil:
		primary, owners = takeType(owners, ResourceECSCluster)
	case rtype == "EKSCluster" && eks != nil:
		primary, owners = takeType(owners, ResourceEKSCluster)
	default:
		primary = self
	}
	primary.Details["container"] = details
	rs = append(rs, primary)
	rs = append(rs, owners...)
	if primary.Type != ResourceContainer && self.ID != "" {
		rs = append(rs, self)
	}
	return rs, used, true
}

// firstObject returns first, or else the first object of list.
func firstObject(first map[string]any, list []any) map[string]any {
	if first != nil {
		return first
	}
	for _, e := range list {
		if m, ok := e.(map[string]any); ok {
			return m
		}
	}
	return nil
}

// takeType removes the first resource of type typ from rs and returns it.
func takeType(rs []Resource, typ string) (Resource, []Resource) {
	for i, r := range rs {
		if r.Type == typ {
			return r, append(rs[:i:i], rs[i+1:]...)
		}
	}
	return newResource("", "", ""), rs
}

// containerDetails maps GuardDuty's Container object: the details of a
// container resource, and details.container of the resource it runs on.
func containerDetails(c map[string]any) map[string]any {
	d := make(map[string]any, 8)
	setStr(d, "id", str(c, "id"))
	setStr(d, "name", str(c, "name"))
	setStr(d, "image", str(c, "image"))
	setStr(d, "image_id", str(c, "imageId"))
	setStr(d, "image_prefix", str(c, "imagePrefix"))
	setStr(d, "container_runtime", str(c, "containerRuntime"))
	if sc := obj(c, "securityContext"); sc != nil {
		if b, ok := get(sc, "privileged").(bool); ok {
			d["privileged"] = b
		}
		if b, ok := get(sc, "allowPrivilegeEscalation").(bool); ok {
			d["allow_privilege_escalation"] = b
		}
	}
	var mounts []any
	for _, e := range arr(c, "volumeMounts") {
		if m, ok := e.(map[string]any); ok {
			vm := make(map[string]any, 2)
			setStr(vm, "name", str(m, "name"))
			setStr(vm, "mount_path", str(m, "mountPath"))
			if len(vm) > 0 {
				mounts = append(mounts, vm)
			}
		}
	}
	if mounts != nil {
		d["volume_mounts"] = mounts
	}
	return d
}

// ecsTask maps ecsClusterDetails.taskDetails to an aws_ecs_task, known by
// the task id (the last part of its ARN).
func ecsTask(t, cluster map[string]any) Resource {
	arn := str(t, "arn")
	r := resourceFromID(ResourceECSTask, arn)
	det := r.Details
	setStr(det, "arn", arn)
	setStr(det, "cluster", str(cluster, "name"))
	setStr(det, "cluster_arn", str(cluster, "arn"))
	setStr(det, "definition_arn", str(t, "definitionArn"))
	setVal(det, "version", get(t, "version"))
	setStr(det, "group", str(t, "group"))
	setStr(det, "launch_type", str(t, "launchType"))
	setStr(det, "started_by", str(t, "startedBy"))
	setTime(det, "started_at", get(t, "startedAt"))
	setTime(det, "created_at", get(t, "taskCreatedAt"))
	var cs []any
	for _, e := range arr(t, "containers") {
		if c, ok := e.(map[string]any); ok {
			cs = append(cs, containerDetails(c))
		}
	}
	if cs != nil {
		det["containers"] = cs
	}
	tagsFrom(get(t, "tags"), r.Tags)
	return r
}

// ecsService returns the aws_ecs_service a task belongs to, which ECS
// names in the task's group ("service:web").
func ecsService(t, cluster map[string]any) (Resource, bool) {
	name, ok := strings.CutPrefix(str(t, "group"), "service:")
	if !ok || name == "" {
		return Resource{}, false
	}
	r := newResource(ResourceECSService, name, "")
	r.Details["name"] = name
	setStr(r.Details, "cluster", str(cluster, "name"))
	setStr(r.Details, "cluster_arn", str(cluster, "arn"))
	return r, true
}

// kubernetesWorkload maps kubernetesWorkloadDetails to the workload it
// names, known as NAMESPACE/NAME as kubectl shows it.
func kubernetesWorkload(w map[string]any) Resource {
	kind := str(w, "type")
	typ, ok := kubernetesTypes[strings.TrimSuffix(strings.ToLower(kind), "s")]
	if !ok {
		typ = ResourceKubernetesWorkload
	}
	name, ns := str(w, "name"), str(w, "namespace")
	id := name
	if ns != "" && name != "" {
		id = ns + "/" + name
	}
	r := newResource(typ, id, "")
	det := r.Details
	setStr(det, "name", name)
	setStr(det, "namespace", ns)
	setStr(det, "uid", str(w, "uid"))
	setStr(det, "workload_type", kind)
	setStr(det, "service_account_name", str(w, "serviceAccountName"))
	for _, k := range [...]string{"hostNetwork", "hostIPC", "hostPID"} {
		if b, ok := get(w, k).(bool); ok {
			det[snakeCase(k)] = b
		}
	}
	var cs []any
	for _, e := range arr(w, "containers") {
		if c, ok := e.(map[string]any); ok {
			cs = append(cs, containerDetails(c))
		}
	}
	if cs != nil {
		det["containers"] = cs
	}
	tagsFrom(get(w, "labels"), r.Tags)
	return r
}

// kubernetesPrincipal returns the IAM identity a Kubernetes user of an EKS
// cluster authenticated as, where kubernetesUserDetails names one: its
// username is the IAM ARN the aws-iam-authenticator mapped
// (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION, arn:aws:iam::ACCOUNT:role/ROLE
// or …:user/NAME), its uid "aws-iam-authenticator:ACCOUNT:PRINCIPAL_ID".
// A Kubernetes-only user (system:serviceaccount:…) has none.
func kubernetesPrincipal(u map[string]any) (Resource, bool) {
	username := str(u, "username")
	if !strings.HasPrefix(username, "arn:") {
		return Resource{}, false
	}
	principalID := ""
	if uid := str(u, "uid"); strings.HasPrefix(uid, "aws-iam-authenticator:") {
		principalID = uid[strings.LastIndexByte(uid, ':')+1:]
	}
	res := arnField(username, 5)
	switch {
	case arnField(username, 2) == "sts" && strings.HasPrefix(res, "assumed-role/"):
		role, _, _ := strings.Cut(strings.TrimPrefix(res, "assumed-role/"), "/")
		return principalResource("AssumedRole", role, principalID)
	case arnField(username, 2) == "iam" && strings.HasPrefix(res, "role/"):
		r, ok := principalResource("Role", res[strings.LastIndexByte(res, '/')+1:], principalID)
		r.ARN = username
		return r, ok
	case arnField(username, 2) == "iam" && strings.HasPrefix(res, "user/"):
		r, ok := principalResource("IAMUser", res[strings.LastIndexByte(res, '/')+1:], principalID)
		r.ARN = username
		return r, ok
	}
	return Resource{}, false
}
