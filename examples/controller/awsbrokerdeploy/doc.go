// Package awsbrokerdeploy holds the test that applies the example broker's
// Kubernetes manifests (examples/awsbroker/deploy/kubernetes) to a real API
// server: it lives in this module because this module has envtest. It has
// no API.
package awsbrokerdeploy
