package hubspot

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/crmsync/crmsync/internal/connectors"
	"github.com/crmsync/crmsync/internal/crmerr"
	"github.com/crmsync/crmsync/internal/transport"
)

var _ connectors.Identifier = (*Connector)(nil)

// Identity reads the account details (GET /account-info/v3/details): a cheap call that proves the token
// works and names the portal. It is safe to retry.
func (c *Connector) Identity(ctx context.Context) (connectors.Account, error) {
	const op = "read account info"
	var info struct {
		PortalID    json.Number `json:"portalId"`
		AccountType string      `json:"accountType"`
		UIDomain    string      `json:"uiDomain"`
	}
	resp, err := c.call(ctx, transport.Request{Op: op, Method: http.MethodGet, Path: "/account-info/v3/details"}, &info)
	if err != nil {
		return connectors.Account{}, err
	}
	if info.PortalID == "" {
		return connectors.Account{}, malformed(crmerr.Transient, op, resp.Status, "account info has no portalId")
	}
	name := "portal " + info.PortalID.String()
	if info.AccountType != "" {
		name += " (" + info.AccountType + ")"
	}
	return connectors.Account{ID: info.PortalID.String(), Name: name}, nil
}
