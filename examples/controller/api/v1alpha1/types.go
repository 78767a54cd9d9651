package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Condition types. Ready says whether the resource is usable; Stalled
// (kstatus's name) says that the controller cannot make progress until the
// spec changes: a failed provision, an unknown plan, invalid parameters.
// A recoverable problem (a backend or API error the controller retries) is
// Ready False with reason BackendError and never Stalled.
const (
	ConditionReady   = "Ready"
	ConditionStalled = "Stalled"
)

// Condition reasons.
const (
	// ReasonProvisioning: the instance's stack is being created or updated.
	ReasonProvisioning = "Provisioning"
	// ReasonDeprovisioning: the resource is being deleted.
	ReasonDeprovisioning = "Deprovisioning"
	// ReasonBinding: the binding's stack, key or Secret is being created.
	ReasonBinding = "Binding"
	// ReasonReady: the resource is usable.
	ReasonReady = "Ready"
	// ReasonProvisionFailed: the provision failed (terminal); the message
	// is the root cause.
	ReasonProvisionFailed = "ProvisionFailed"
	// ReasonUpdateFailed: an update failed (terminal for this generation).
	ReasonUpdateFailed = "UpdateFailed"
	// ReasonDeprovisionFailed: the delete failed; it is retried.
	ReasonDeprovisionFailed = "DeprovisionFailed"
	// ReasonBindFailed: the binding's stack failed (terminal).
	ReasonBindFailed = "BindFailed"
	// ReasonInvalidSpec: the service or plan does not exist, or the
	// parameters break the plan's schema (terminal).
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonBackendError: an error the controller retries.
	ReasonBackendError = "BackendError"
	// ReasonInstanceNotReady: the binding waits for its instance.
	ReasonInstanceNotReady = "InstanceNotReady"
	// ReasonBindingsExist: the instance's delete waits for its bindings.
	ReasonBindingsExist = "BindingsExist"
	// ReasonSecretConflict: a Secret of that name exists and belongs to
	// something else (terminal).
	ReasonSecretConflict = "SecretConflict"
)

// Finalizer is the finalizer both kinds carry until their resources are
// deleted.
const Finalizer = "services.brokerkit.dev/deprovision"

// ServiceInstanceSpec is what to provision.
type ServiceInstanceSpec struct {
	// Service is the name of a service of the controller's catalog.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="service is immutable"
	Service string `json:"service"`
	// Plan is the name of one of the service's plans.
	// +kubebuilder:validation:MinLength=1
	Plan string `json:"plan"`
	// Parameters are the plan's parameters, checked against its schema.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +optional
	Parameters *runtime.RawExtension `json:"parameters,omitempty"`
}

// Operation is the last operation the controller started on a resource.
type Operation struct {
	// ID is the operation's ID in the controller's store.
	ID string `json:"id"`
	// Kind is provision, update or deprovision.
	Kind string `json:"kind"`
	// State is "in progress", "succeeded" or "failed".
	State string `json:"state"`
	// Description is, for a failed operation, the root cause.
	// +optional
	Description string `json:"description,omitempty"`
	// Generation is the generation of the spec the operation was started
	// for.
	// +optional
	Generation int64 `json:"generation,omitempty"`
}

// ServiceInstanceStatus is what the controller observed.
type ServiceInstanceStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions are Ready and Stalled.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// InstanceID is the instance's ID in the controller's store (the
	// resource's UID).
	// +optional
	InstanceID string `json:"instanceID,omitempty"`
	// Operation is the last operation.
	// +optional
	Operation *Operation `json:"operation,omitempty"`
}

// ServiceInstance is one instance of a catalog plan: for SQS, a queue.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Service",type=string,JSONPath=`.spec.service`
// +kubebuilder:printcolumn:name="Plan",type=string,JSONPath=`.spec.plan`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
type ServiceInstance struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ServiceInstanceSpec   `json:"spec,omitempty"`
	Status ServiceInstanceStatus `json:"status,omitempty"`
}

// ServiceInstanceList is a list of ServiceInstances.
//
// +kubebuilder:object:root=true
type ServiceInstanceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ServiceInstance `json:"items"`
}

// ServiceBindingSpec is which instance to bind and where to put the
// credentials.
type ServiceBindingSpec struct {
	// InstanceRef names a ServiceInstance in the binding's namespace.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="instanceRef is immutable"
	InstanceRef corev1.LocalObjectReference `json:"instanceRef"`
	// SecretName is the Secret to write; default: the binding's name.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="secretName is immutable"
	// +optional
	SecretName string `json:"secretName,omitempty"`
}

// ServiceBindingStatus is what the controller observed.
type ServiceBindingStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions are Ready and Stalled.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// BindingID is the binding's ID in the controller's store (the
	// resource's UID).
	// +optional
	BindingID string `json:"bindingID,omitempty"`
	// Operation is the last operation on the binding's stack.
	// +optional
	Operation *Operation `json:"operation,omitempty"`
	// Binding names the Secret holding the credentials, as the Service
	// Binding specification's provisioned-service duck type does.
	// +optional
	Binding *corev1.LocalObjectReference `json:"binding,omitempty"`
	// AccessKeyID is the ID of the binding's access key (not a secret;
	// the key's secret is in the Secret, and sealed in the controller's
	// store).
	// +optional
	AccessKeyID string `json:"accessKeyID,omitempty"`
}

// ServiceBinding is credentials for one ServiceInstance, written to a
// Secret of type servicebinding.io/<type> owned by the binding.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Instance",type=string,JSONPath=`.spec.instanceRef.name`
// +kubebuilder:printcolumn:name="Secret",type=string,JSONPath=`.status.binding.name`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
type ServiceBinding struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ServiceBindingSpec   `json:"spec,omitempty"`
	Status ServiceBindingStatus `json:"status,omitempty"`
}

// ServiceBindingList is a list of ServiceBindings.
//
// +kubebuilder:object:root=true
type ServiceBindingList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ServiceBinding `json:"items"`
}

// SecretNameOrDefault returns the name of the Secret the binding writes.
func (b *ServiceBinding) SecretNameOrDefault() string {
	if b.Spec.SecretName != "" {
		return b.Spec.SecretName
	}
	return b.Name
}
