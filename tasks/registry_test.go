package tasks_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"github.com/tuskq/tuskq/tasks"
)

func nop(context.Context, *asynq.Task) error { return nil }

func TestRegistryRegister(t *testing.T) {
	t.Parallel()
	reg := tasks.NewRegistry()
	if err := reg.RegisterFunc("email:send", nop); err != nil {
		t.Fatalf("register: %v", err)
	}
	tests := []struct {
		name, typ string
		wantErr   error
		wantText  string
	}{
		{"Duplicate", "email:send", tasks.ErrDuplicateType, `tasks: register "email:send": task type already registered`},
		{"Empty", "", tasks.ErrInvalidType, `tasks: register: invalid task type: the type is empty; use a name such as "email:send"`},
		{"Space", "email send", tasks.ErrInvalidType, `tasks: register: invalid task type: "email send" contains ' '; use letters, digits and punctuation other than '*'`},
		{"Star", "email:*", tasks.ErrInvalidType, `tasks: register: invalid task type: "email:*" contains '*'; use letters, digits and punctuation other than '*'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := reg.RegisterFunc(tt.typ, nop)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v; want %v", err, tt.wantErr)
			}
			if err.Error() != tt.wantText {
				t.Fatalf("err text\n got %q\nwant %q", err.Error(), tt.wantText)
			}
		})
	}
}

func TestRegistryMustRegisterPanics(t *testing.T) {
	t.Parallel()
	reg := tasks.NewRegistry()
	reg.MustRegister("a:b", tasks.ProcessorFunc(nop))
	defer func() {
		v := recover()
		err, ok := v.(error)
		if !ok || !errors.Is(err, tasks.ErrDuplicateType) {
			t.Fatalf("recovered %v; want an error wrapping ErrDuplicateType", v)
		}
	}()
	reg.MustRegister("a:b", tasks.ProcessorFunc(nop))
}

type resolverFunc func(string) (tasks.Processor, bool)

func (f resolverFunc) Resolve(s string) (tasks.Processor, bool) { return f(s) }

func TestRegistryDispatch(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	reg := tasks.NewRegistry()
	var got []string
	reg.MustRegister("b:run", tasks.ProcessorFunc(func(_ context.Context, t *asynq.Task) error {
		got = append(got, "compiled:"+t.Type())
		return nil
	}))
	reg.MustRegister("a:run", tasks.ProcessorFunc(nop))

	err := reg.ProcessTask(ctx, asynq.NewTask("nope:nope", nil))
	if !errors.Is(err, tasks.ErrNoProcessor) {
		t.Fatalf("unknown type: err = %v; want ErrNoProcessor", err)
	}
	want := `tasks: no processor registered for task type "nope:nope" (registered: a:run, b:run)`
	if err.Error() != want {
		t.Fatalf("unknown type error\n got %q\nwant %q", err, want)
	}

	reg.SetResolver(resolverFunc(func(typ string) (tasks.Processor, bool) {
		if typ != "plugin:run" {
			return nil, false
		}
		return tasks.ProcessorFunc(func(_ context.Context, t *asynq.Task) error {
			got = append(got, "resolved:"+t.Type())
			return nil
		}), true
	}))
	for _, typ := range []string{"b:run", "plugin:run"} {
		if err := reg.ProcessTask(ctx, asynq.NewTask(typ, nil)); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
	}
	if strings.Join(got, ",") != "compiled:b:run,resolved:plugin:run" {
		t.Fatalf("dispatch order = %v", got)
	}
	if reg.Registered("plugin:run") {
		t.Fatal("Registered reports a resolver type as compiled-in")
	}
	if got := strings.Join(reg.Types(), ","); got != "a:run,b:run" {
		t.Fatalf("Types() = %s", got)
	}
}
