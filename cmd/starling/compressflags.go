package main

import (
	"flag"

	"github.com/starling-ws/starling/server"
)

// registerCompress adds the permessage-deflate flags (issue 12). What they
// cost is fixed, not per connection (docs/operations.md): one pooled
// compressor per shard worker while it compresses, one inflater per event
// loop while it inflates.
func registerCompress(fs *flag.FlagSet, s *server.Config) {
	fs.BoolVar(&s.Compress, "compress", s.Compress, "negotiate permessage-deflate with clients that offer it (no context kept either way); each publish is compressed once per encoding (memory, only while in use: shards x 1.1 MB of compressors, event loops x 48 KB of inflaters; nothing per connection)")
	fs.Var(intBytes{&s.CompressMin}, "compress-min", "smallest data part compressed, in bytes (e.g. 256 or 1KiB); smaller publishes go plain to everyone, and so does data that does not shrink")
}
