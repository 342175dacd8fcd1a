package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skein-streaming/skein/internal/config"
)

const (
	// defaultRegistry is the schema registry used when neither --registry
	// nor SKEIN_REGISTRY is set.
	defaultRegistry = "http://127.0.0.1:8081"
	// registryEnv names the environment variable that overrides
	// defaultRegistry.
	registryEnv = "SKEIN_REGISTRY"
	// registryMediaType is the schema registry's media type.
	registryMediaType = "application/vnd.schemaregistry.v1+json"
)

// registryFlags are the flags shared by the schema commands.
type registryFlags struct {
	url     string
	timeout time.Duration
	// config is --registry-config: the registry client properties.
	config string

	// Set from config on the first request.
	loaded   bool
	client   *http.Client
	userInfo string
}

// registryConfigEnv names the environment variable that gives the
// default of --registry-config.
const registryConfigEnv = "SKEIN_REGISTRY_CONFIG"

// Keys of the registry client properties, as Confluent's schema registry
// clients name them; each may also carry the prefix "schema.registry.",
// as serializer configurations write them.
const (
	propRegistryURL          = "url"
	propBasicAuthSource      = "basic.auth.credentials.source"
	propBasicAuthUserInfo    = "basic.auth.user.info"
	registryPropertiesPrefix = "schema.registry."
)

// registryPropertyKeys are the keys read from a registry properties file:
// the URL, HTTP Basic credentials and the TLS keys of the Kafka client
// properties (ssl.truststore.*, ssl.keystore.*,
// ssl.endpoint.identification.algorithm, ssl.enabled.protocols).
var registryPropertyKeys = []string{
	propRegistryURL, propBasicAuthSource, propBasicAuthUserInfo,
	propTruststoreType, propTruststoreLocation, propTruststoreCerts,
	propKeystoreType, propKeystoreLocation, propKeystoreChain, propKeystoreKey, propKeyPassword,
	propEndpointID, propEnabledProtocols,
}

// load reads --registry-config, once. Unknown keys are reported on warn
// and ignored; invalid values are errors naming their key.
func (f *registryFlags) load(cmd *cobra.Command) error {
	if f.loaded {
		return nil
	}
	f.loaded = true
	f.client = http.DefaultClient
	if f.config == "" {
		return nil
	}
	file, err := os.Open(f.config)
	if err != nil {
		return fmt.Errorf("--registry-config: %w", err)
	}
	defer file.Close()
	props, err := config.ReadProperties(file, f.config)
	if err != nil {
		return fmt.Errorf("--registry-config: %w", err)
	}
	values := map[string]string{}
	for _, p := range props {
		key := strings.TrimPrefix(p.Key, registryPropertiesPrefix)
		if !slices.Contains(registryPropertyKeys, key) {
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s: line %d: %s is not a known schema registry client config; it is ignored\n", f.config, p.Line, p.Key)
			continue
		}
		values[key] = p.Value
	}
	fail := func(err error) error { return fmt.Errorf("%s: %w", f.config, err) }
	if u := strings.TrimSpace(values[propRegistryURL]); u != "" && !cmd.Flags().Changed("registry") {
		f.url = u
	}
	switch src := strings.ToUpper(strings.TrimSpace(values[propBasicAuthSource])); src {
	case "", "USER_INFO":
		if ui := values[propBasicAuthUserInfo]; ui != "" {
			if !strings.Contains(ui, ":") {
				return fail(fmt.Errorf("%s: want user:password", propBasicAuthUserInfo))
			}
			f.userInfo = ui
		}
	case "URL":
		// The credentials are the URL's user information.
	default:
		return fail(fmt.Errorf("%s: %q is not supported; use USER_INFO or URL", propBasicAuthSource, src))
	}
	if strings.HasPrefix(strings.ToLower(f.url), "https://") {
		tc, err := clientTLSConfig(values)
		if err != nil {
			return fail(err)
		}
		f.client = &http.Client{Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}}
	}
	return nil
}

func newSchemaCmd() *cobra.Command {
	f := &registryFlags{}
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Register, read, check and delete schemas in a schema registry",
		Long: "Work with any Confluent-compatible schema registry, such as the one skein serve\n" +
			"runs, given by --registry or " + registryEnv + " (default " + defaultRegistry + ").",
	}
	def := os.Getenv(registryEnv)
	if def == "" {
		def = defaultRegistry
	}
	cmd.PersistentFlags().StringVar(&f.url, "registry", def, "schema registry URL (env "+registryEnv+")")
	cmd.PersistentFlags().DurationVar(&f.timeout, "timeout", 30*time.Second, "time limit for the command")
	cmd.PersistentFlags().StringVar(&f.config, "registry-config", os.Getenv(registryConfigEnv),
		"schema registry client properties (url, basic.auth.user.info, ssl.truststore.location, ssl.keystore.location, …; env "+registryConfigEnv+")")
	// The schema commands have no --command-config: this replaces the
	// root's hook.
	cmd.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return f.load(cmd) }
	cmd.AddCommand(newSchemaRegisterCmd(f), newSchemaGetCmd(f), newSchemaListCmd(f), newSchemaCheckCmd(f), newSchemaDeleteCmd(f))
	return cmd
}

// schemaInput is a schema read from a file, with its type and references.
type schemaInput struct {
	schemaType string
	refs       []string
}

func (in *schemaInput) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&in.schemaType, "type", "AVRO", "schema type: AVRO, JSON or PROTOBUF")
	cmd.Flags().StringArrayVar(&in.refs, "ref", nil, "a reference as name=subject:version (repeatable)")
}

// body reads the schema file ("-" is standard input) into a request body.
func (in *schemaInput) body(cmd *cobra.Command, file string) (map[string]any, error) {
	var raw []byte
	var err error
	if file == "-" {
		raw, err = io.ReadAll(cmd.InOrStdin())
	} else {
		raw, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, err
	}
	body := map[string]any{"schema": string(raw)}
	if t := strings.ToUpper(in.schemaType); t != "" && t != "AVRO" {
		body["schemaType"] = t
	}
	var refs []map[string]any
	for _, r := range in.refs {
		name, rest, ok1 := strings.Cut(r, "=")
		subject, ver, ok2 := strings.Cut(rest, ":")
		v, err := strconv.Atoi(ver)
		if !ok1 || !ok2 || err != nil || name == "" || subject == "" {
			return nil, fmt.Errorf("--ref %q: want name=subject:version", r)
		}
		refs = append(refs, map[string]any{"name": name, "subject": subject, "version": v})
	}
	if refs != nil {
		body["references"] = refs
	}
	return body, nil
}

// registryError is an error answer of the registry.
type registryError struct {
	Status  int
	Code    int    `json:"error_code"`
	Message string `json:"message"`
}

func (e *registryError) Error() string {
	return fmt.Sprintf("%s (HTTP %d, error code %d)", e.Message, e.Status, e.Code)
}

// do sends a request to the registry and decodes a 200 answer into out
// (raw bytes when out is *[]byte).
func (f *registryFlags) do(ctx context.Context, method, path string, in, out any) error {
	if !f.loaded {
		return errors.New("schema registry client settings not loaded")
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(f.url, "/")+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", registryMediaType)
	if in != nil {
		req.Header.Set("Content-Type", registryMediaType)
	}
	if user, pass, ok := strings.Cut(f.userInfo, ":"); ok {
		req.SetBasicAuth(user, pass)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		e := &registryError{Status: resp.StatusCode}
		if json.Unmarshal(raw, e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(raw))
		}
		return e
	}
	if b, ok := out.(*[]byte); ok {
		*b = raw
		return nil
	}
	return json.Unmarshal(raw, out)
}

func subjectPath(subject string) string { return "/subjects/" + url.PathEscape(subject) }

func newSchemaRegisterCmd(f *registryFlags) *cobra.Command {
	var in schemaInput
	cmd := &cobra.Command{
		Use:   "register SUBJECT FILE",
		Short: "Register the schema in FILE (- for standard input) under SUBJECT and print its id",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := in.body(cmd, args[1])
			if err != nil {
				return err
			}
			var resp struct {
				ID int `json:"id"`
			}
			if err := f.do(cmd.Context(), "POST", subjectPath(args[0])+"/versions", body, &resp); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), resp.ID)
			return nil
		},
	}
	in.register(cmd)
	return cmd
}

func newSchemaGetCmd(f *registryFlags) *cobra.Command {
	var id int
	var raw bool
	cmd := &cobra.Command{
		Use:   "get [SUBJECT [VERSION]]",
		Short: "Print a subject's version (default latest), or with --id a schema by id",
		Args:  cobra.RangeArgs(0, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var path string
			switch {
			case id > 0 && len(args) == 0:
				path = fmt.Sprintf("/schemas/ids/%d", id)
			case id == 0 && len(args) > 0:
				version := "latest"
				if len(args) == 2 {
					version = args[1]
				}
				path = subjectPath(args[0]) + "/versions/" + url.PathEscape(version)
			default:
				return errors.New("give either SUBJECT [VERSION] or --id")
			}
			if raw {
				path += "/schema"
			}
			var out []byte
			if err := f.do(cmd.Context(), "GET", path, nil, &out); err != nil {
				return err
			}
			return writeIndented(cmd.OutOrStdout(), out)
		},
	}
	cmd.Flags().IntVar(&id, "id", 0, "schema id")
	cmd.Flags().BoolVar(&raw, "raw", false, "print only the schema text")
	return cmd
}

// writeIndented prints JSON indented, and anything else as it is.
func writeIndented(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if json.Indent(&buf, raw, "", "  ") != nil {
		buf.Reset()
		buf.Write(raw)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

func newSchemaListCmd(f *registryFlags) *cobra.Command {
	var deleted bool
	cmd := &cobra.Command{
		Use:   "list [SUBJECT]",
		Short: "List subjects, or the versions of SUBJECT",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q := ""
			if deleted {
				q = "?deleted=true"
			}
			if len(args) == 1 {
				var versions []int
				if err := f.do(cmd.Context(), "GET", subjectPath(args[0])+"/versions"+q, nil, &versions); err != nil {
					return err
				}
				for _, v := range versions {
					fmt.Fprintln(cmd.OutOrStdout(), v)
				}
				return nil
			}
			var subjects []string
			if err := f.do(cmd.Context(), "GET", "/subjects"+q, nil, &subjects); err != nil {
				return err
			}
			for _, s := range subjects {
				fmt.Fprintln(cmd.OutOrStdout(), s)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&deleted, "deleted", false, "include soft-deleted subjects or versions")
	return cmd
}

func newSchemaCheckCmd(f *registryFlags) *cobra.Command {
	var in schemaInput
	var version string
	cmd := &cobra.Command{
		Use:   "check SUBJECT FILE",
		Short: "Check whether the schema in FILE may be registered under SUBJECT",
		Long: "Check the schema in FILE against SUBJECT at the subject's compatibility level:\n" +
			"against the versions the level names, or only --version when given. Prints\n" +
			"compatible, or incompatible with the reasons and fails.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := in.body(cmd, args[1])
			if err != nil {
				return err
			}
			path := "/compatibility" + subjectPath(args[0]) + "/versions"
			if version != "" {
				path += "/" + url.PathEscape(version)
			}
			var resp struct {
				IsCompatible bool     `json:"is_compatible"`
				Messages     []string `json:"messages"`
			}
			if err := f.do(cmd.Context(), "POST", path+"?verbose=true", body, &resp); err != nil {
				return err
			}
			if resp.IsCompatible {
				fmt.Fprintln(cmd.OutOrStdout(), "compatible")
				return nil
			}
			fmt.Fprintln(cmd.OutOrStdout(), "incompatible")
			for _, m := range resp.Messages {
				fmt.Fprintln(cmd.OutOrStdout(), "  "+m)
			}
			return errors.New("schema is incompatible")
		},
	}
	in.register(cmd)
	cmd.Flags().StringVar(&version, "version", "", "check against this version only (a number or latest)")
	return cmd
}

func newSchemaDeleteCmd(f *registryFlags) *cobra.Command {
	var permanent bool
	cmd := &cobra.Command{
		Use:   "delete SUBJECT [VERSION]",
		Short: "Soft-delete a subject or one version; --permanent hard-deletes a soft-deleted one",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := subjectPath(args[0])
			if len(args) == 2 {
				path += "/versions/" + url.PathEscape(args[1])
			}
			if permanent {
				path += "?permanent=true"
			}
			var out []byte
			if err := f.do(cmd.Context(), "DELETE", path, nil, &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %s\n", strings.TrimSpace(string(out)))
			return nil
		},
	}
	cmd.Flags().BoolVar(&permanent, "permanent", false, "hard-delete (the subject or version must be soft-deleted first)")
	return cmd
}
