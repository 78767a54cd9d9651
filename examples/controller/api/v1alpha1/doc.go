// Package v1alpha1 holds the custom resources of the brokerkit example
// controller, group services.brokerkit.dev: a ServiceInstance (a service and
// plan of the catalog, with parameters, provisioned as a CloudFormation stack)
// and a ServiceBinding (credentials for one instance, written to a Secret).
//
// The CRD manifests under config/crd are written by hand from these types;
// the kubebuilder markers say what they hold. DeepCopy functions are in
// zz_deepcopy.go, also by hand.
//
// +kubebuilder:object:generate=true
// +groupName=services.brokerkit.dev
package v1alpha1
