package conformance

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"golang.org/x/net/html"
)

// Page is a page the authorization server showed during an authorization request
// instead of redirecting: a login form, a consent form or an error page.
type Page struct {
	// URL is the page's URL.
	URL *url.URL
	// Status is the HTTP status.
	Status int
	// Header holds the response headers.
	Header http.Header
	// Body is the page (up to 1 MiB).
	Body []byte
}

// LoginDriver plays the user during authorization. The suite sends the authorization
// request itself and follows redirects; whenever it lands on a page, it asks the driver
// for the next request. Cookies are kept by the suite's HTTP client.
type LoginDriver interface {
	// Next returns the request that moves the authorization on from page (for example
	// the submission of a login or consent form), or nil when the driver has nothing to
	// do on this page (an error page). It is never handed a page of another origin
	// than the authorization endpoint's.
	Next(ctx context.Context, page *Page) (*http.Request, error)
}

// AutoApprove is the LoginDriver for authorization servers configured to approve every
// request at once (redirecting straight back to the client): it never submits anything.
type AutoApprove struct{}

// Next implements LoginDriver: there is nothing to do.
func (AutoApprove) Next(context.Context, *Page) (*http.Request, error) { return nil, nil }

// FormLogin is a LoginDriver for HTML login and consent forms: on each page it fills the
// form that has a password field (or, on a consent page, the form with an approve
// button) with the configured credentials and the form's own hidden inputs (such as a
// CSRF token), presses the approve button and submits.
type FormLogin struct {
	// Username and Password are the test user's credentials.
	Username, Password string
	// UsernameField and PasswordField are the input names. Default "username" and
	// "password".
	UsernameField, PasswordField string
	// Approve matches (case-insensitively) the name, value or text of the submit button
	// to press. Default `approve|allow|accept|authori[sz]e|consent|continue|yes|log ?in|sign ?in|submit`.
	Approve string
	// Fields are extra form fields to set (a tenant, a "remember me" box).
	Fields map[string]string
}

var defaultApprove = `approve|allow|accept|authori[sz]e|consent|continue|yes|log ?in|sign ?in|submit`

// Next implements LoginDriver.
func (f FormLogin) Next(ctx context.Context, page *Page) (*http.Request, error) {
	if page.Status >= 400 && page.Status != http.StatusUnauthorized {
		return nil, nil // an error page
	}
	doc, err := html.Parse(bytes.NewReader(page.Body))
	if err != nil {
		return nil, nil
	}
	approve := f.Approve
	if approve == "" {
		approve = defaultApprove
	}
	re, err := regexp.Compile("(?i)(" + approve + ")")
	if err != nil {
		return nil, err
	}
	userField, passField := f.UsernameField, f.PasswordField
	if userField == "" {
		userField = "username"
	}
	if passField == "" {
		passField = "password"
	}
	forms := findForms(doc)
	var chosen *form
	for i := range forms {
		if forms[i].hasPassword {
			chosen = &forms[i]
			break
		}
	}
	if chosen == nil {
		for i := range forms {
			if forms[i].button(re) != nil {
				chosen = &forms[i]
				break
			}
		}
	}
	if chosen == nil {
		return nil, nil
	}
	vals := url.Values{}
	for _, in := range chosen.inputs {
		vals.Set(in.name, in.value)
	}
	if chosen.hasField(userField) || chosen.hasPassword {
		vals.Set(userField, f.Username)
	}
	if chosen.hasField(passField) || chosen.hasPassword {
		vals.Set(passField, f.Password)
	}
	for k, v := range f.Fields {
		vals.Set(k, v)
	}
	if b := chosen.button(re); b != nil && b.name != "" {
		vals.Set(b.name, b.value)
	}
	action, err := page.URL.Parse(chosen.action)
	if err != nil {
		return nil, err
	}
	if chosen.method == http.MethodGet {
		action.RawQuery = vals.Encode()
		return http.NewRequestWithContext(ctx, http.MethodGet, action.String(), nil)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(vals.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// Same-origin form submission, as a browser sends it.
	req.Header.Set("Origin", page.URL.Scheme+"://"+page.URL.Host)
	req.Header.Set("Referer", page.URL.String())
	return req, nil
}

type input struct{ name, value string }

type button struct{ name, value, text string }

type form struct {
	action, method string
	inputs         []input // hidden, text, checked boxes; not buttons
	buttons        []button
	hasPassword    bool
	fields         map[string]bool
}

func (f *form) hasField(name string) bool { return f.fields[name] }

// button returns the first submit button matching re, or the only submit button.
func (f *form) button(re *regexp.Regexp) *button {
	for i, b := range f.buttons {
		if re.MatchString(b.name) || re.MatchString(b.value) || re.MatchString(b.text) {
			return &f.buttons[i]
		}
	}
	return nil
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if strings.EqualFold(a.Key, key) {
			return a.Val, true
		}
	}
	return "", false
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.TrimSpace(b.String())
}

// findForms collects the forms of doc with their fields.
func findForms(doc *html.Node) []form {
	var out []form
	var walk func(n *html.Node, cur *form)
	walk = func(n *html.Node, cur *form) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "form":
				action, _ := attr(n, "action")
				method, _ := attr(n, "method")
				method = strings.ToUpper(method)
				if method != http.MethodGet {
					method = http.MethodPost
				}
				out = append(out, form{action: action, method: method, fields: map[string]bool{}})
				idx := len(out) - 1
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walkInto(c, &out, idx, walk)
				}
				return
			case "input":
				if cur != nil {
					addInput(n, cur)
				}
			case "button":
				if cur != nil {
					typ, _ := attr(n, "type")
					if typ == "" || strings.EqualFold(typ, "submit") {
						name, _ := attr(n, "name")
						value, _ := attr(n, "value")
						cur.buttons = append(cur.buttons, button{name: name, value: value, text: textOf(n)})
					}
				}
			case "select", "textarea":
				if cur != nil {
					if name, ok := attr(n, "name"); ok {
						cur.fields[name] = true
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, cur)
		}
	}
	walk(doc, nil)
	return out
}

// walkInto walks n inside form idx; the slice may grow (nested forms are invalid HTML
// and not supported), so the form is addressed by index.
func walkInto(n *html.Node, forms *[]form, idx int, walk func(*html.Node, *form)) {
	f := (*forms)[idx]
	walk(n, &f)
	(*forms)[idx] = f
}

func addInput(n *html.Node, f *form) {
	name, _ := attr(n, "name")
	typ, _ := attr(n, "type")
	typ = strings.ToLower(typ)
	value, _ := attr(n, "value")
	if typ == "password" {
		f.hasPassword = true
	}
	if name == "" {
		return
	}
	f.fields[name] = true
	switch typ {
	case "submit", "image":
		f.buttons = append(f.buttons, button{name: name, value: value, text: value})
	case "button", "reset", "file":
	case "checkbox", "radio":
		if _, checked := attr(n, "checked"); checked {
			if value == "" {
				value = "on"
			}
			f.inputs = append(f.inputs, input{name, value})
		}
	default:
		f.inputs = append(f.inputs, input{name, value})
	}
}
