package cluster

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/starling-ws/starling/frame"
)

// Sink receives the cluster's publications: the server implements it with
// its hub's PublishAt. Deliver is called from one goroutine at a time (a
// NATS goroutine), for every channel in stream order; off is the stream
// sequence, prev the channel's previous stored offset (0: none stored), and
// epoch the stream's. ch is valid only during the call (copy it to keep
// it); data is the sink's to keep. Deliver must not block for long: the
// live feed waits for it (NATS drops what exceeds the pending limits, and
// the bus fetches it back).
type Sink interface {
	Deliver(ch []byte, off, prev uint64, epoch uint32, data []byte, enc frame.Enc)
}

var (
	// ErrUnavailable wraps every failure to hand a publish to the bus or
	// to read from it (NATS down, the stream missing, no ack in time): the
	// server answers err 503.
	ErrUnavailable = errors.New("cluster: bus unavailable")
	// ErrChannel: not a valid channel name (frame.ValidChannel).
	ErrChannel = errors.New("cluster: invalid channel name")
)

// Bus is one node's end of the cluster bus.
type Bus struct {
	cfg  Config
	log  *slog.Logger
	sink Sink
	nc   *nats.Conn
	js   jetstream.JetStream
	scfg jetstream.StreamConfig

	chPrefix   string // "<prefix>.ch."
	chAll      string // "<prefix>.ch.>"
	livePrefix string // "<prefix>.live."
	live       *nats.Subscription
	advisory   *nats.Subscription

	encHdr  [2]nats.Header // read-only, shared by every publish
	pubOpts []jetstream.PublishOpt

	// Delivery state, under dmu (see doc.go).
	dmu    sync.Mutex
	synced bool   // hw and epoch are set from the stream
	hw     uint64 // the highest stream sequence delivered (or skipped)
	chbuf  []byte
	// done mirrors hw once the Deliver calls up to it have returned, for
	// readers that must not wait for dmu (Delivered).
	done atomic.Uint64

	epoch    atomic.Uint32
	streamOK atomic.Bool
	reason   atomic.Pointer[string] // why the stream is not usable
	closing  atomic.Bool

	pmu  sync.Mutex
	pend map[*nats.Msg]pending

	kick chan struct{}
	quit chan struct{}
	wg   sync.WaitGroup
	st   counters
}

type pending struct {
	done  func(off uint64, err error)
	start time.Time
}

// Connect starts a node's end of the bus: the NATS connection (which
// reconnects by itself, forever), the stream (created if missing, its
// limits updated to cfg's if they differ) and the live subscription. It
// returns at once even if NATS cannot be reached yet: Ready says why the
// bus is not usable until it is. Errors are configuration errors only.
func Connect(cfg Config, sink Sink, log *slog.Logger) (*Bus, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if sink == nil {
		return nil, errors.New("cluster: a Sink is required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Bus{
		cfg:        cfg,
		log:        log.With("component", "cluster"),
		sink:       sink,
		chPrefix:   cfg.Prefix + ".ch.",
		chAll:      cfg.Prefix + ".ch.>",
		livePrefix: cfg.Prefix + ".live.",
		pend:       make(map[*nats.Msg]pending),
		kick:       make(chan struct{}, 1),
		quit:       make(chan struct{}),
		chbuf:      make([]byte, 0, frame.MaxChannel),
	}
	b.encHdr[frame.MsgPack] = nats.Header{hdrEnc: []string{encMsgPack}}
	b.encHdr[frame.JSON] = nats.Header{hdrEnc: []string{encJSON}}
	// No retry on "no responders" (the stream is unavailable): fail now,
	// the client retries; and never wait for an inflight slot.
	b.pubOpts = []jetstream.PublishOpt{jetstream.WithRetryAttempts(0), jetstream.WithStallWait(time.Millisecond)}
	b.scfg = jetstream.StreamConfig{
		Name:              cfg.Stream,
		Description:       "Starling channels: history and sequencing (cluster package)",
		Subjects:          []string{b.chAll},
		Retention:         jetstream.LimitsPolicy,
		MaxMsgs:           -1,
		MaxMsgsPerSubject: int64(cfg.HistorySize),
		MaxAge:            cfg.HistoryTTL,
		MaxBytes:          cfg.HistoryMemory,
		Discard:           jetstream.DiscardOld,
		Storage:           storageType(cfg.Storage),
		Replicas:          cfg.Replicas,
		RePublish:         &jetstream.RePublish{Source: b.chAll, Destination: cfg.Prefix + ".live.>"},
		AllowDirect:       true,
		// Messages leave a channel oldest first only, which is what makes
		// a stored predecessor exact (live.go, fetch.go).
		DenyDelete: true,
	}
	b.setReason("connecting to NATS")

	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(cfg.ReconnectWait),
		nats.ReconnectJitter(cfg.ReconnectWait/2, cfg.ReconnectWait),
		// While disconnected a publish fails at once (err 503) instead of
		// waiting in a buffer for a server that may not come back in time.
		nats.ReconnectBufSize(-1),
		nats.PingInterval(cfg.PingInterval),
		nats.MaxPingsOutstanding(2),
		// The handlers may run before Connect has set b.nc: they use nc.
		nats.ConnectHandler(func(nc *nats.Conn) { b.log.Info("nats connected", "url", nc.ConnectedUrlRedacted()); b.poke() }),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.st.reconnects.Add(1)
			b.unsynced("resyncing after a reconnect")
			b.log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
			b.poke()
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			b.unsynced("disconnected")
			if !b.closing.Load() {
				b.log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ErrorHandler(b.onAsyncError),
	}
	if cfg.Creds != "" {
		opts = append(opts, nats.UserCredentials(cfg.Creds))
	}
	if cfg.Token != "" {
		opts = append(opts, nats.Token(cfg.Token))
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("cluster: nats connect %s: %w", cfg.URL, err)
	}
	b.nc = nc
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(cfg.MaxInflight),
		jetstream.WithPublishAsyncTimeout(cfg.PublishTimeout),
		jetstream.WithPublishAsyncAckHandler(b.onAck),
		jetstream.WithPublishAsyncErrHandler(b.onPubErr),
		jetstream.WithDefaultTimeout(cfg.FetchTimeout))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("cluster: jetstream: %w", err)
	}
	b.js = js
	if b.live, err = nc.Subscribe(b.livePrefix+">", b.onLive); err == nil {
		err = b.live.SetPendingLimits(cfg.PendingMsgs, cfg.PendingBytes)
	}
	if err == nil {
		// A stream deleted or created again by an operator: check the
		// epoch at once rather than at the next reconnect.
		b.advisory, err = nc.Subscribe("$JS.EVENT.ADVISORY.STREAM.*."+cfg.Stream, func(*nats.Msg) { b.poke() })
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("cluster: subscribe: %w", err)
	}
	b.wg.Add(1)
	go b.run()
	if nc.IsConnected() {
		b.poke()
	}
	return b, nil
}

func (b *Bus) poke() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

func (b *Bus) setReason(s string) { b.reason.Store(&s) }

// unsynced marks the stream not usable until the next resync: after a
// reconnect the server may have lost or recreated it, or may still be
// loading it.
func (b *Bus) unsynced(why string) {
	b.setReason(why)
	b.streamOK.Store(false)
}

// run brings the node in line with the stream after every connect,
// reconnect, slow-consumer event or stream advisory, and retries while the
// stream cannot be reached.
func (b *Bus) run() {
	defer b.wg.Done()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		select {
		case <-b.quit:
			return
		case <-b.kick:
		case <-retry.C:
		}
		if err := b.resync(); err != nil {
			b.streamOK.Store(false)
			b.setReason(err.Error())
			b.log.Warn("cluster: stream unavailable", "err", err)
			retry.Reset(max(b.cfg.ReconnectWait, 100*time.Millisecond))
		}
	}
}

// resync reads the stream (creating it if missing), takes its epoch, and
// delivers what this node missed up to the stream's last sequence.
func (b *Bus) resync() error {
	if !b.nc.IsConnected() {
		return errors.New("nats: not connected")
	}
	// dmu is held across the stream read: a live message processed before
	// it is older than the last sequence read, so none is dropped unseen.
	b.dmu.Lock()
	defer b.dmu.Unlock()
	// NATS reports a slow consumer once per episode: messages it drops
	// while this runs may be the last of a burst, which no later message
	// would reveal. So go on until a pass saw no new drop.
	for range 8 {
		dropped, _ := b.live.Dropped()
		if err := b.resyncOnce(); err != nil {
			return err
		}
		if now, _ := b.live.Dropped(); now == dropped {
			return nil
		}
	}
	b.poke() // still dropping: come back after the live handler had its turn
	return nil
}

// resyncOnce is one pass of resync. Caller holds dmu.
func (b *Bus) resyncOnce() error {
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.FetchTimeout)
	info, err := b.ensureStream(ctx)
	cancel()
	if err != nil {
		return fmt.Errorf("stream %s: %w", b.cfg.Stream, err)
	}
	ep := epochOf(info)
	last := info.State.LastSeq
	switch {
	case !b.synced || ep != b.epoch.Load():
		if b.synced {
			b.st.epochs.Add(1)
			b.log.Warn("cluster: stream created again: new epoch, offsets start over", "epoch", ep)
		}
		// A node delivers from now on; older publications are fetched on
		// demand (Fetch) for the resumes that need them.
		b.epoch.Store(ep)
		b.hw, b.synced = last, true
		if b.cfg.OnEpoch != nil {
			b.cfg.OnEpoch(ep)
		}
	case last > b.hw:
		if err := b.catchUp(last); err != nil {
			return err
		}
	case last < b.hw:
		// Same creation time but fewer messages: the NATS store lost
		// data. Offsets may repeat; only a new stream (a new epoch)
		// makes them safe again.
		b.log.Error("cluster: stream's last sequence went back under the same epoch", "last", last, "delivered", b.hw)
		b.hw = last
	}
	b.done.Store(b.hw)
	b.streamOK.Store(true)
	b.setReason("")
	return nil
}

// ensureStream returns the stream's info, creating the stream if it is
// missing and updating its limits if they differ from this node's.
func (b *Bus) ensureStream(ctx context.Context) (*jetstream.StreamInfo, error) {
	s, err := b.js.Stream(ctx, b.cfg.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		s, err = b.js.CreateStream(ctx, b.scfg)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // another node won the race
			s, err = b.js.Stream(ctx, b.cfg.Stream)
		} else if err == nil {
			b.log.Info("cluster: stream created", "stream", b.cfg.Stream, "storage", b.cfg.Storage.String())
		}
	}
	if err != nil {
		return nil, err
	}
	info := s.CachedInfo()
	c := info.Config
	if c.MaxMsgsPerSubject != b.scfg.MaxMsgsPerSubject || c.MaxAge != b.scfg.MaxAge || c.MaxBytes != b.scfg.MaxBytes ||
		c.RePublish == nil || *c.RePublish != *b.scfg.RePublish || !c.AllowDirect || c.Replicas != b.scfg.Replicas {
		b.log.Warn("cluster: stream limits differ from this node's: updating", "stream", b.cfg.Stream)
		if s, err = b.js.UpdateStream(ctx, b.scfg); err != nil {
			return nil, fmt.Errorf("update: %w", err)
		}
		info = s.CachedInfo()
	}
	if c.Storage != b.scfg.Storage {
		b.log.Warn("cluster: stream storage differs from this node's (it cannot change; delete the stream to change it)",
			"stream", c.Storage.String(), "node", b.scfg.Storage.String())
	}
	return info, nil
}

func storageType(s Storage) jetstream.StorageType {
	if s == File {
		return jetstream.FileStorage
	}
	return jetstream.MemoryStorage
}

// epochOf derives the epoch from the stream's name and creation time: the
// same for every node and across restarts (the server keeps both), new
// when the stream is created again. Never 0 (the hub's "no epoch").
func epochOf(info *jetstream.StreamInfo) uint32 {
	h := fnv.New32a()
	h.Write([]byte(info.Config.Name))
	ts := info.Created.UnixNano()
	var b [8]byte
	for i := range b {
		b[i] = byte(ts >> (8 * i))
	}
	h.Write(b[:])
	if e := h.Sum32(); e != 0 {
		return e
	}
	return 1
}

// Epoch is the stream's epoch (0 before the first sync).
func (b *Bus) Epoch() uint32 { return b.epoch.Load() }

// Ready reports whether the bus can carry cluster traffic now, and why
// not: closed, not connected to NATS, or the stream not usable.
func (b *Bus) Ready() (bool, string) {
	switch {
	case b.closing.Load():
		return false, "cluster: bus closed"
	case !b.nc.IsConnected():
		return false, "cluster: nats " + b.nc.Status().String()
	case !b.streamOK.Load():
		return false, "cluster: " + *b.reason.Load()
	}
	return true, ""
}

func (b *Bus) onAsyncError(_ *nats.Conn, sub *nats.Subscription, err error) {
	if sub != nil && sub == b.live && errors.Is(err, nats.ErrSlowConsumer) {
		// NATS dropped live messages past the pending limits: the next
		// message shows the gap, and a resync fetches it even if no next
		// message comes.
		if b.st.slow.Add(1)%1000 == 1 {
			b.log.Warn("cluster: live feed slow consumer: dropped messages are fetched from the stream", "events", b.st.slow.Load())
		}
		b.poke()
		return
	}
	b.log.Warn("cluster: nats async error", "err", err)
}

// Drain stops taking publishes (they fail with ErrUnavailable) and waits,
// within ctx, for the acks of those in flight. The server has already
// answered its clients' publishes before their 1001 (Server.Drain stops
// taking them first); this is for any left, e.g. when that wait ran out.
func (b *Bus) Drain(ctx context.Context) error {
	b.closing.Store(true)
	select {
	case <-b.js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("cluster: drain: %d publishes without ack: %w", b.js.PublishAsyncPending(), ctx.Err())
	}
}

// Close stops the bus: no Deliver is called after it returns, and every
// publish still waiting for its ack is answered with ErrUnavailable.
// Safe to call more than once.
func (b *Bus) Close() {
	if b.closing.Swap(true) && b.nc.IsClosed() {
		return
	}
	select {
	case <-b.quit:
	default:
		close(b.quit)
	}
	b.wg.Wait()
	_ = b.live.Unsubscribe()
	_ = b.advisory.Unsubscribe()
	b.nc.Close()
	// Hold dmu once: a Deliver in progress on the live goroutine ends first.
	b.dmu.Lock()
	b.synced = false
	b.dmu.Unlock()
	b.pmu.Lock()
	pend := b.pend
	b.pend = make(map[*nats.Msg]pending)
	b.pmu.Unlock()
	for _, p := range pend {
		b.st.pubFailed.Add(1)
		p.done(0, fmt.Errorf("%w: closed", ErrUnavailable))
	}
}
