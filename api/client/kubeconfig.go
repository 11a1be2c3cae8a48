package client

import (
	"fmt"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// KubeconfigContext is the name of the cluster, user and context of a
// kubeconfig made by Kubeconfig.
const KubeconfigContext = "orch"

// Kubeconfig returns a kubeconfig for the same cluster and user as c, for
// kubectl and client-go: one cluster per server (orch, orch-2, orch-3, ...;
// a kubeconfig cluster has a single server, so kubectl does not fail over;
// switch context, or use orchctl with c), the CA and the token or client
// certificate, and context orch (namespace default) as the current one.
func (c *Config) Kubeconfig() (*clientcmdapi.Config, error) {
	if len(c.Servers) == 0 {
		return nil, fmt.Errorf("kubeconfig: the client config lists no servers")
	}
	kc := clientcmdapi.NewConfig()
	user := &clientcmdapi.AuthInfo{
		Token:                 c.Token,
		ClientCertificate:     c.ClientCertificate,
		ClientKey:             c.ClientKey,
		ClientCertificateData: c.ClientCertificateData,
		ClientKeyData:         c.ClientKeyData,
	}
	kc.AuthInfos[KubeconfigContext] = user
	for i, s := range c.Servers {
		name := KubeconfigContext
		if i > 0 {
			name = fmt.Sprintf("%s-%d", KubeconfigContext, i+1)
		}
		kc.Clusters[name] = &clientcmdapi.Cluster{Server: s, CertificateAuthority: c.CertificateAuthority,
			CertificateAuthorityData: c.CertificateAuthorityData}
		kc.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: KubeconfigContext, Namespace: "default"}
	}
	kc.CurrentContext = KubeconfigContext
	return kc, nil
}

// SaveKubeconfig writes Kubeconfig to path (mode 0600: it holds the
// credentials).
func (c *Config) SaveKubeconfig(path string) error {
	kc, err := c.Kubeconfig()
	if err != nil {
		return err
	}
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("save kubeconfig: %w", err)
	}
	return nil
}
