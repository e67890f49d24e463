package provider

// RequestingClient is the client behind a pending authorization or device request as a
// login, consent or verification page shows it (AuthorizationRequest and DeviceRequest
// embed it). Every string in it may come from the client: escape it when rendering.
type RequestingClient struct {
	// ClientID is the requesting client's client_id.
	ClientID string
	// ClientName is the client's registered name; empty when it has none.
	ClientName string
	// ClientURI is the client's registered home page; empty when it has none. Nobody
	// checked that the client belongs to it: show it as the client's claim, if at all.
	ClientURI string
	// ClientURIHost is DisplayHost(ClientURI): its host in ASCII (punycode), for a page
	// to show labelled as unverified.
	ClientURIHost string
	// ClientIDHost is the host of the client ID when the client ID is an https URL (an
	// OAuth Client ID Metadata Document, see ClientResolver), else empty. Whoever
	// controls that host vouches for ClientName: show it to the user next to the name.
	ClientIDHost string
	// Client is the client's registration without secrets; nil when the storage returns
	// a client type other than *Client.
	Client *Client
}
