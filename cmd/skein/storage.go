package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/skein-streaming/skein/broker"
)

func newStorageCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "storage",
		Short: "Prepare a node's data directory",
	}
	cmd.AddCommand(newStorageFormatCmd())
	return cmd
}

type storageFormatOptions struct {
	configFile      string
	sets            []string
	dataDir         string
	addScram        []string
	ignoreFormatted bool
}

func newStorageFormatCmd() *cobra.Command {
	var o storageFormatOptions
	cmd := &cobra.Command{
		Use:   "format",
		Short: "Format a node's metadata directory, with bootstrap SCRAM credentials",
		Long: "Format the metadata directory of a node (<log.dirs>/__cluster_metadata, log.dirs\n" +
			"read from --config and --set as skein serve reads them) before its first start,\n" +
			"as Kafka's kafka-storage.sh format. Each --add-scram\n" +
			"'SCRAM-SHA-512=[name=admin,password=admin-secret]' (optional salt= in base64,\n" +
			"iterations= from 4096 to 16384, default 4096) becomes a SCRAM credential that\n" +
			"the cluster has when it first forms, so that listeners that all require\n" +
			"SASL/SCRAM can be used from the start. Only the salted keys are written (mode\n" +
			"0600), never the password. Give every controller of a new cluster the same\n" +
			"--add-scram arguments; a credential that exists is never overwritten. Formatting\n" +
			"a directory that already holds a metadata log fails, unless --ignore-formatted\n" +
			"(then nothing is done). Formatting is optional: a node starts without it.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runStorageFormat(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.configFile, "config", "", "server.properties file of the node (as skein serve --config)")
	f.StringArrayVar(&o.sets, "set", nil, "a broker setting as name=value (repeatable; wins over --config)")
	f.StringVar(&o.dataDir, "data-dir", "", "data directory (log.dirs; default "+defaultDataDir+")")
	f.StringArrayVarP(&o.addScram, "add-scram", "S", nil, "a SCRAM credential, e.g. 'SCRAM-SHA-512=[name=admin,password=admin-secret]' (repeatable)")
	f.BoolVarP(&o.ignoreFormatted, "ignore-formatted", "g", false, "do nothing, successfully, when the directory is already formatted")
	return cmd
}

func runStorageFormat(cmd *cobra.Command, o storageFormatOptions) error {
	values, err := serveSettings(serveOptions{configFile: o.configFile, sets: o.sets, dataDir: o.dataDir})
	if err != nil {
		return err
	}
	bcfg, err := brokerConfig(values)
	if err != nil {
		return err
	}
	var creds []broker.ScramCredentialRecord
	for _, arg := range o.addScram {
		rec, err := broker.ParseAddScram(arg)
		if err != nil {
			return fmt.Errorf("--add-scram: %w", err)
		}
		creds = append(creds, rec)
	}
	dir := filepath.Join(bcfg.DataDir, "__cluster_metadata")
	err = broker.FormatMetadataDir(dir, creds)
	switch {
	case errors.Is(err, broker.ErrAlreadyFormatted):
		if o.ignoreFormatted {
			fmt.Fprintf(cmd.OutOrStdout(), "All of the log directories are already formatted.\n")
			return nil
		}
		return fmt.Errorf("Log directory %s is already formatted. Use --ignore-formatted to ignore this directory and format the others.", bcfg.DataDir)
	case err != nil:
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Formatting metadata directory %s with %d SCRAM credentials.\n", dir, len(creds))
	return nil
}
