package awsbrokerdeploy

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/brokerkit/brokerkit/examples/controller/internal/kubeassets"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// manifests is the directory of the example broker's manifests.
var manifests = filepath.Join("..", "..", "awsbroker", "deploy", "kubernetes")

// The environment variables of envtest, as in package reconciler.
const (
	envRequireKube = "BROKERKIT_REQUIRE_KUBE"
)

// fieldOwner is the field manager of the applies.
const fieldOwner = client.FieldOwner("awsbroker-deploy-test")

// TestManifestsApply applies every manifest of the example broker to a
// real kube-apiserver (envtest), server-side, with strict field
// validation, so that an unknown or misplaced field fails as a typo would
// with kubectl apply --server-side: first the single-replica set
// (namespace, service account, secrets, volume claim, deployment,
// service) for real, then the replicas' deployment and disruption budget
// as a dry run (they replace the single replica's). The registration
// (servicecatalog/) is applied against the ClusterServiceBroker CRD of
// testdata/, which has Service Catalog's spec fields: envtest has no
// Service Catalog. It then reads the Deployment back and checks what the
// manifests promise: non-root, read-only root file system, no privilege
// escalation, resource requests, probes on /healthz.
func TestManifestsApply(t *testing.T) {
	dir := kubeassets.Dir()
	if dir == "" {
		msg := "kube-apiserver and etcd not found: run examples/controller/hack/kube-assets.sh and set " + kubeassets.Env + " (or run make test)"
		if os.Getenv(envRequireKube) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg + "; set " + envRequireKube + "=1 to make this a failure")
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory:    dir,
		CRDDirectoryPaths:        []string{"testdata"},
		ErrorIfCRDPathMissing:    true,
		Scheme:                   scheme,
		ControlPlaneStartTimeout: 90 * time.Second,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping envtest: %v", err)
		}
	})
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}

	apply := func(t *testing.T, obj *unstructured.Unstructured, opts ...client.PatchOption) error {
		t.Helper()
		opts = append([]client.PatchOption{fieldOwner, client.ForceOwnership, client.FieldValidation("Strict")}, opts...)
		return c.Patch(t.Context(), obj, client.Apply, opts...) //nolint:staticcheck // client.Apply on unstructured objects is server-side apply
	}
	objs := readManifests(t, manifests)
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.file+":"+o.obj.GetKind())
	}
	want := []string{
		"deployment.yaml:Deployment", "namespace.yaml:Namespace", "pvc.yaml:PersistentVolumeClaim",
		"replicas/deployment.yaml:Deployment", "replicas/poddisruptionbudget.yaml:PodDisruptionBudget",
		"secrets.yaml:Secret", "secrets.yaml:Secret", "secrets.yaml:Secret",
		"service.yaml:Service", "serviceaccount.yaml:ServiceAccount",
		"servicecatalog/clusterservicebroker.yaml:ClusterServiceBroker",
	}
	if !slices.Equal(kinds, want) {
		t.Fatalf("manifests:\n got %v\nwant %v", kinds, want)
	}
	// The namespace first; the replicas' files as a dry run, last.
	slices.SortStableFunc(objs, func(a, b manifest) int {
		rank := func(m manifest) int {
			switch {
			case m.obj.GetKind() == "Namespace":
				return 0
			case strings.HasPrefix(m.file, "replicas/"):
				return 2
			}
			return 1
		}
		return rank(a) - rank(b)
	})
	for _, o := range objs {
		var opts []client.PatchOption
		if strings.HasPrefix(o.file, "replicas/") {
			opts = append(opts, client.DryRunAll)
		}
		if err := apply(t, o.obj, opts...); err != nil {
			t.Errorf("%s: %s %s: %v", o.file, o.obj.GetKind(), o.obj.GetName(), err)
		}
	}
	if t.Failed() {
		return
	}

	var d appsv1.Deployment
	if err := c.Get(t.Context(), types.NamespacedName{Namespace: "brokerkit", Name: "awsbroker"}, &d); err != nil {
		t.Fatal(err)
	}
	checkPod(t, d.Spec.Template.Spec)

	// Strictness is on: a misspelt field is refused.
	bad := objs[slices.IndexFunc(objs, func(m manifest) bool { return m.file == "deployment.yaml" })].obj.DeepCopy()
	bad.SetManagedFields(nil) // filled in by the apply above
	bad.SetResourceVersion("")
	if err := unstructured.SetNestedField(bad.Object, int64(1), "spec", "replicaz"); err != nil {
		t.Fatal(err)
	}
	if err := apply(t, bad, client.DryRunAll); err == nil || !strings.Contains(err.Error(), "replicaz") {
		t.Errorf("applying a Deployment with spec.replicaz: %v, want an error naming the field", err)
	}
}

// checkPod checks the pod template's security and probes.
func checkPod(t *testing.T, pod corev1.PodSpec) {
	t.Helper()
	if pod.ServiceAccountName != "awsbroker" {
		t.Errorf("serviceAccountName %q", pod.ServiceAccountName)
	}
	if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Errorf("the pod does not run as a non-root user: %+v", pod.SecurityContext)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	ctr := pod.Containers[0]
	sc := ctr.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("the root file system is not read-only")
	}
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("privilege escalation is not off")
	}
	if sc == nil || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("capabilities are not dropped")
	}
	if ctr.Resources.Requests.Cpu().IsZero() || ctr.Resources.Requests.Memory().IsZero() {
		t.Errorf("no cpu and memory requests: %v", ctr.Resources.Requests)
	}
	for name, p := range map[string]*corev1.Probe{"readiness": ctr.ReadinessProbe, "liveness": ctr.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.String() != "health" {
			t.Errorf("%s probe %+v, want GET /healthz on the health port", name, p)
		}
	}
	var env []string
	for _, e := range ctr.Env {
		env = append(env, e.Name)
	}
	for _, v := range []string{"BROKER_HEALTH_LISTEN", "BROKER_USERS", "BROKER_TLS_CERT", "BROKER_TLS_KEY", "BROKER_CFN_ROLE_ARN", "AWS_REGION"} {
		if !slices.Contains(env, v) {
			t.Errorf("the container does not set %s", v)
		}
	}
}

// manifest is one object of a file (relative to the manifests).
type manifest struct {
	file string
	obj  *unstructured.Unstructured
}

// readManifests reads every object of the YAML files under dir, by file
// name, in order.
func readManifests(t *testing.T, dir string) []manifest {
	t.Helper()
	var out []manifest
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			var m map[string]any
			if err := dec.Decode(&m); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			if len(m) == 0 {
				continue
			}
			out = append(out, manifest{file: filepath.ToSlash(rel), obj: &unstructured.Unstructured{Object: m}})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
