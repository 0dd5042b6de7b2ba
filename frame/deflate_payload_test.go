package frame

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
)

// Realistic publish data for the compression tests and benchmarks: chat
// messages and betting odds, as JSON and as MessagePack, grown to about a
// target size. Deterministic (fixed seeds), so ratios are comparable run to
// run.

var chatWords = strings.Fields(`the a to and of you i it is that in for on this
have be with are not just so was but we can what do at if all me my like get
your up out about know will one there think they now good how when time see
going lol yeah ok thanks really see back today tomorrow meeting deploy build
release fixed bug issue please check link here later great nice sure maybe
need send done ready waiting coffee lunch weekend team update review merge
branch test failing passing prod staging server client latency graph chart`)

var chatNames = []string{"alice_k", "bob", "carol.m", "dave_ops", "erin", "frank99", "grace-h", "heidi", "ivan_p", "judy"}

type chatMsg struct {
	ID        string     `json:"id" msgpack:"id"`
	Room      string     `json:"room" msgpack:"room"`
	User      chatUser   `json:"user" msgpack:"user"`
	Text      string     `json:"text" msgpack:"text"`
	TS        int64      `json:"ts" msgpack:"ts"`
	Edited    bool       `json:"edited" msgpack:"edited"`
	Reactions []reaction `json:"reactions" msgpack:"reactions"`
}

type chatUser struct {
	ID     int    `json:"id" msgpack:"id"`
	Name   string `json:"name" msgpack:"name"`
	Avatar string `json:"avatar" msgpack:"avatar"`
}

type reaction struct {
	Emoji string `json:"emoji" msgpack:"emoji"`
	Count int    `json:"count" msgpack:"count"`
}

type oddsEvent struct {
	EventID string   `json:"event_id" msgpack:"event_id"`
	Sport   string   `json:"sport" msgpack:"sport"`
	League  string   `json:"league" msgpack:"league"`
	Home    string   `json:"home" msgpack:"home"`
	Away    string   `json:"away" msgpack:"away"`
	Start   int64    `json:"start" msgpack:"start"`
	Markets []market `json:"markets" msgpack:"markets"`
}

type market struct {
	ID         string      `json:"id" msgpack:"id"`
	Name       string      `json:"name" msgpack:"name"`
	Status     string      `json:"status" msgpack:"status"`
	Selections []selection `json:"selections" msgpack:"selections"`
}

type selection struct {
	ID    string  `json:"id" msgpack:"id"`
	Name  string  `json:"name" msgpack:"name"`
	Price float64 `json:"price" msgpack:"price"`
	Prev  float64 `json:"prev" msgpack:"prev"`
	TS    int64   `json:"ts" msgpack:"ts"`
}

var teams = []string{"Arsenal", "Chelsea", "Liverpool", "Everton", "Leeds United", "Brighton", "Fulham", "Brentford", "Wolves", "Newcastle"}

func chatValues(n int, rng *rand.Rand) []chatMsg {
	out := make([]chatMsg, n)
	for i := range out {
		words := make([]string, 4+rng.IntN(20))
		for j := range words {
			words[j] = chatWords[rng.IntN(len(chatWords))]
		}
		uid := 1000 + rng.IntN(9000)
		m := chatMsg{
			ID:   fmt.Sprintf("01HV%08X%06X", rng.Uint32(), i),
			Room: "general",
			User: chatUser{ID: uid, Name: chatNames[rng.IntN(len(chatNames))], Avatar: fmt.Sprintf("https://cdn.example.net/u/%d/64.png", uid)},
			Text: strings.Join(words, " "),
			TS:   1718000000000 + int64(i)*1371 + rng.Int64N(1000),
		}
		if rng.IntN(4) == 0 {
			m.Reactions = []reaction{{Emoji: "👍", Count: 1 + rng.IntN(9)}}
		}
		out[i] = m
	}
	return out
}

func oddsValues(n int, rng *rand.Rand) []oddsEvent {
	out := make([]oddsEvent, n)
	for i := range out {
		h, a := rng.IntN(len(teams)), rng.IntN(len(teams))
		ev := oddsEvent{
			EventID: fmt.Sprintf("ev-%07d", 8800000+i), Sport: "football", League: "Premier League",
			Home: teams[h], Away: teams[a], Start: 1718031600000 + int64(i)*900000,
		}
		for k, name := range []string{"Match Odds", "Over/Under 2.5 Goals", "Both Teams To Score"} {
			mk := market{ID: fmt.Sprintf("m-%d-%d", i, k), Name: name, Status: "open"}
			sels := []string{teams[h], "Draw", teams[a]}
			if k > 0 {
				sels = []string{"Yes", "No"}
			}
			for s, sn := range sels {
				p := 1.2 + float64(rng.IntN(800))/100
				mk.Selections = append(mk.Selections, selection{
					ID: fmt.Sprintf("s-%d-%d-%d", i, k, s), Name: sn, Price: p, Prev: p + float64(rng.IntN(11)-5)/100,
					TS: 1718000000000 + rng.Int64N(60000),
				})
			}
			ev.Markets = append(ev.Markets, mk)
		}
		out[i] = ev
	}
	return out
}

var (
	payloadMu    sync.Mutex
	payloadCache = map[string][]byte{}
)

// benchPayload is a JSON (or MessagePack) data value of about size bytes
// (at least size, at most an eighth more). Built once per arguments.
func deflatePayload(kind string, size int, enc Enc) []byte {
	key := fmt.Sprint(kind, size, enc)
	payloadMu.Lock()
	defer payloadMu.Unlock()
	if b, ok := payloadCache[key]; ok {
		return b
	}
	for n := 1; ; n += max(1, n/8) {
		rng := rand.New(rand.NewPCG(7, uint64(size)))
		var v any
		if kind == "chat" {
			v = chatValues(n, rng)
		} else {
			v = oddsValues(n, rng)
		}
		var b []byte
		if enc == JSON {
			var err error
			if b, err = json.Marshal(v); err != nil {
				panic(err)
			}
		} else {
			b = mpVal(v)
		}
		if len(b) >= size {
			payloadCache[key] = b
			return b
		}
	}
}
