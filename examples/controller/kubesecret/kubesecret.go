// Package kubesecret turns a binding's credentials into a Kubernetes Secret
// following the Service Binding specification (servicebinding.io): the
// adapter between brokerkit's binding package, which knows nothing of
// Kubernetes, and k8s.io/api. It lives in the controller's module so that
// the core module never depends on k8s.io.
//
// Secret builds the object; the caller sets the owner and writes it. It keeps
// no state and is safe for concurrent use.
package kubesecret

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/brokerkit/brokerkit/binding"
)

// Secret returns a Secret named name in namespace holding creds as the
// Service Binding specification lays them out: every credential as a key,
// plus "type" set to typ and, when provider is not "", "provider"; the
// Secret's type is "servicebinding.io/<typ>" (Opaque when typ is "" and creds
// have no "type" either). The values are copied: changing the Secret does not
// change creds.
func Secret(namespace, name string, creds binding.Credentials, typ, provider string) *corev1.Secret {
	data, secretType := binding.ServiceBindingSecret(creds, typ, provider)
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Type:       corev1.SecretType(secretType),
		Data:       data,
	}
}
