package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/skein-streaming/skein/internal/config"
	"github.com/skein-streaming/skein/storage"
	"github.com/skein-streaming/skein/storage/keys"
)

// Encryption at rest (docs/encryption.md): with skein.encryption.key.file
// set, every partition log is opened with the keys of that file, and new
// data is encrypted under its current key when skein.encryption.enable is
// true. Every skein.encryption.rotation.check.interval.ms the file is read
// again and each log rewrites the segments not under the current key.

// configureEncryption loads the key file, refusing one that group or
// others may read. New calls it, so --check-config checks the key file
// too.
func (b *Broker) configureEncryption() error {
	enable := b.settings.brokerBool(config.EncryptionEnable, false)
	path := b.settings.brokerString(config.EncryptionKeyFile, "")
	if path == "" {
		if enable {
			return fmt.Errorf("broker: %s=true needs %s", config.EncryptionEnable, config.EncryptionKeyFile)
		}
		return nil
	}
	f, err := keys.OpenFile(path)
	if err != nil {
		return fmt.Errorf("broker: %s: %w", config.EncryptionKeyFile, err)
	}
	enc, err := storage.NewEncryption(f, enable)
	if err != nil {
		return fmt.Errorf("broker: %s: %w", config.EncryptionKeyFile, err)
	}
	b.keyFile, b.encryption = f, enc
	id, _, _ := f.Current()
	b.log.Info("encryption keys loaded", "key_file", path, "encrypt_new_data", enable, "current_key", id, "keys", strings.Join(f.IDs(), ","))
	return nil
}

// startKeyRotation starts the periodic key file reload and re-encryption.
func (b *Broker) startKeyRotation() {
	if b.keyFile == nil {
		return
	}
	every := time.Duration(b.settings.brokerInt(config.EncryptionRotationCheckIntervalMs, 300000)) * time.Millisecond
	b.goEvery(every, b.rotateKeys)
}

// rotateKeys reads the key file again and has every log rewrite the
// segments that are not under the current key.
func (b *Broker) rotateKeys() {
	if changed, err := b.keyFile.Reload(); err != nil {
		b.log.Warn("encryption key file not reloaded; the keys loaded before stay in force", "err", err)
	} else if changed {
		id, _, _ := b.keyFile.Current()
		b.log.Info("encryption key file reloaded", "current_key", id, "keys", strings.Join(b.keyFile.IDs(), ","))
	}
	pending := 0
	for _, p := range b.allPartitions() {
		st, err := p.log.ReencryptSegments(b.bgCtx)
		switch {
		case errors.Is(err, context.Canceled):
			return
		case p.topic.deleted.Load() || errors.Is(err, storage.ErrClosed):
			continue
		case err != nil:
			b.log.Error("re-encryption failed", "topic", p.topic.name, "partition", p.index, "err", err)
		}
		pending += st.Pending
	}
	if pending > 0 {
		b.log.Info("segments not yet under the current encryption key", "segments", pending)
	}
}
