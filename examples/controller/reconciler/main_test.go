package reconciler_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/brokerkit/brokerkit/examples/controller/internal/kubeassets"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/brokerkit/brokerkit/examples/controller/api/v1alpha1"
)

// Environment variables of the tests.
const (
	// envRequireKube=1 turns missing kube-apiserver and etcd binaries from
	// a skip into a failure (CI sets it).
	envRequireKube = "BROKERKIT_REQUIRE_KUBE"
	// envRequireMoto=1 does the same for moto_server.
	envRequireMoto = "BROKERKIT_REQUIRE_MOTO"
)

// The API server the tests share (each test works in a namespace of its
// own), or why there is none.
var (
	restConfig *rest.Config
	scheme     = runtime.NewScheme()
	kubeSkip   string
)

func TestMain(m *testing.M) {
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		panic(err)
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		panic(err)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	defer stopMoto()
	dir := kubeassets.Dir()
	if dir == "" {
		where := "not found"
		if d := os.Getenv(kubeassets.Env); d != "" {
			where = "not in " + kubeassets.Env + "=" + d
		}
		kubeSkip = "kube-apiserver and etcd " + where + ": run examples/controller/hack/kube-assets.sh and set " + kubeassets.Env +
			" to the directory it prints (or run make test); set " + envRequireKube + "=1 to make this a failure"
		if os.Getenv(envRequireKube) == "1" {
			fmt.Fprintln(os.Stderr, "FAIL: "+kubeSkip)
			return 1
		}
		return m.Run()
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: dir,
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
		// A loaded 2-core machine can take a while to start kube-apiserver.
		ControlPlaneStartTimeout: 90 * time.Second,
	}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: starting kube-apiserver and etcd from", dir+":", err)
		return 1
	}
	restConfig = cfg
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping envtest:", err)
	}
	return code
}

// needKube skips t when there is no API server.
func needKube(t *testing.T) {
	t.Helper()
	if restConfig == nil {
		t.Skip(kubeSkip)
	}
}

// moto_server, started on first use by the tests that need it (a copy of
// the part of the core module's internal/mototest these tests use, which
// another module cannot import).
var (
	motoOnce sync.Once
	motoURL  string
	motoCmd  *exec.Cmd
	motoErr  error
)

// motoEndpoint returns the URL of a moto_server: BROKERKIT_MOTO_ENDPOINT,
// else one started for this test binary. Without moto_server on PATH it
// skips t, or fails it with BROKERKIT_REQUIRE_MOTO=1.
func motoEndpoint(t *testing.T) string {
	t.Helper()
	if e := os.Getenv("BROKERKIT_MOTO_ENDPOINT"); e != "" {
		return e
	}
	motoOnce.Do(startMoto)
	if errors.Is(motoErr, exec.ErrNotFound) {
		if os.Getenv(envRequireMoto) == "1" {
			t.Fatalf("moto_server not found on PATH and %s=1", envRequireMoto)
		}
		t.Skip("moto_server not found on PATH; set " + envRequireMoto + "=1 to make this a failure")
	}
	if motoErr != nil {
		t.Fatal(motoErr)
	}
	return motoURL
}

func startMoto() {
	path, err := exec.LookPath("moto_server")
	if err != nil {
		motoErr = err
		return
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		motoErr = err
		return
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	var out bytes.Buffer
	cmd := exec.Command(path, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		motoErr = err
		return
	}
	motoCmd = cmd
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	c := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := c.Get(url + "/moto-api/")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			motoURL = url
			return
		}
	}
	motoErr = fmt.Errorf("moto_server on port %d did not answer within 30s", port)
}

// stopMoto stops the moto_server this binary started, and its children.
func stopMoto() {
	if motoCmd == nil {
		return
	}
	_ = syscall.Kill(-motoCmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = motoCmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-motoCmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// motoConfig is an AWS configuration for moto that reads nothing from the
// environment.
func motoConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIAMOTOTEST", "motosecret", ""),
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   awshttp.NewBuildableClient(),
	}
}

// eventually calls cond until it returns true or timeout passes, then fails
// t with the last description cond gave.
func eventually(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, string)) {
	t.Helper()
	ctx := t.Context()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ok, desc := cond(ctx)
		if ok {
			return
		}
		last = desc
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last seen: %s", what, timeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
