package server

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
)

// chatData is a JSON array of chat messages of at least size bytes,
// deterministic per seed: data that compresses the way real chat does.
func chatData(size int, seed uint64) []byte {
	words := strings.Fields(`the a to and of you i it is that in for on this have be with are not just so
was but we can what do at if all me my like get your up out about know will one there think they now good
how when time see going lol yeah ok thanks really back today tomorrow meeting deploy build release fixed
bug issue please check link here later great nice sure maybe need send done ready waiting coffee lunch`)
	rng := rand.New(rand.NewPCG(seed, 12))
	var msgs []map[string]any
	for {
		n := 4 + rng.IntN(16)
		text := make([]string, n)
		for i := range text {
			text[i] = words[rng.IntN(len(words))]
		}
		uid := 1000 + rng.IntN(9000)
		msgs = append(msgs, map[string]any{
			"id": fmt.Sprintf("01HV%08X", rng.Uint32()), "room": "general", "ts": 1718000000000 + rng.Int64N(1e6),
			"user": map[string]any{"id": uid, "name": fmt.Sprintf("user_%d", uid)}, "text": strings.Join(text, " "),
		})
		b, _ := json.Marshal(msgs)
		if len(b) >= size {
			return b
		}
	}
}

// ChatData is chatData for the external tests.
var ChatData = chatData
