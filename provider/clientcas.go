package provider

import "context"

// ClientCompareAndSwapper is an optional extension of [ClientStore] for RFC 7592 client
// management: writes that take effect only while the client's registration access token
// is still the one the caller verified. Without it, two concurrent requests presenting the
// same token could both pass the check and both write (two updates each issuing a new
// token, of which only the last works; or an update racing a delete). The registration
// handler (mcp/registration) refuses a store without it; storage/gorm implements it.
//
// Both methods compare oldHash with the stored RegistrationAccessTokenHash in the same
// statement as the write, and return fosite.ErrNotFound when the client is absent, its
// hash differs (the token was rotated or the client deleted meanwhile), or oldHash is
// empty.
type ClientCompareAndSwapper interface {
	// UpdateClientIfRegistrationToken is UpdateClient applied only while the stored
	// registration access token hash equals oldHash. c.RegistrationAccessTokenHash is the
	// new hash.
	UpdateClientIfRegistrationToken(ctx context.Context, c *Client, oldHash []byte) error
	// DeleteClientIfRegistrationToken is DeleteClient applied only while the stored
	// registration access token hash equals oldHash.
	DeleteClientIfRegistrationToken(ctx context.Context, id string, oldHash []byte) error
}
