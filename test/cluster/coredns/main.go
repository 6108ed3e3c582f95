// CoreDNS for the devloop test cluster, with only the plugins the Corefile written by up.sh uses
// (bind, errors, kubernetes, ready). CoreDNS's own main package links every plugin, with the SDKs
// of the cloud DNS providers. There is deliberately no forward plugin: no lookup is ever sent to
// another server. Built by ../build-coredns.sh; each plugin registers itself when imported, and
// dnsserver's directive list orders them as in a stock CoreDNS.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
)

// Keeps the dnsserver import (the directive order) explicit.
var _ = dnsserver.Directives

func main() {
	coremain.Run()
}
