package bus

import (
	"context"
	"testing"
	"time"
)

func TestPublishSubscribe(t *testing.T) {
	m := NewMemory()
	a, cancelA := m.Subscribe("dialog:1")
	b, cancelB := m.Subscribe("dialog:1")
	other, cancelO := m.Subscribe("dialog:2")
	defer cancelO()
	m.Publish(context.Background(), "dialog:1", []byte("hello"))
	for _, ch := range []<-chan []byte{a, b} {
		select {
		case got := <-ch:
			if string(got) != "hello" {
				t.Fatalf("got %q", got)
			}
		case <-time.After(time.Second):
			t.Fatal("a subscriber missed the event")
		}
	}
	select {
	case got := <-other:
		t.Fatalf("another topic received %q", got)
	default:
	}
	cancelA()
	cancelA() // twice is harmless
	m.Publish(context.Background(), "dialog:1", []byte("again"))
	if got := <-b; string(got) != "again" {
		t.Fatalf("got %q", got)
	}
	cancelB()
	if len(m.subs) != 1 {
		t.Fatalf("cancelled subscriptions are kept: %v", m.subs)
	}
}

func TestSlowSubscriberDoesNotBlock(t *testing.T) {
	m := NewMemory()
	_, cancel := m.Subscribe("t")
	defer cancel()
	done := make(chan struct{})
	go func() {
		for range buffer * 3 {
			m.Publish(context.Background(), "t", []byte("x"))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("a subscriber that does not read blocked the publisher")
	}
}
