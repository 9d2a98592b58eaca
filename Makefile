# moonbeam: build, test, benchmark.
#
#   make          build build/lib/moonbeam/core.so and build/bin/moonbeam
#   make deps     install the Debian packages the build and tests need
#   make demo     build and boot the example supervision tree (examples/app.lua)
#   make test     deps, build, the spec suite and the core's own C test
#                 (spec/core), both again under ASan+UBSan and TSan, and a
#                 short fuzz run; ends with "N passed, N failed"
#   make core-test  the core alone, from C, with no LuaJIT linked
#   make bench    the benchmark table beside Erlang/OTP
#   make fuzz     fuzz the message decoder and the core's term reader
#                 (FUZZ_SECONDS each, default 60)
#   make soak     the reliability suite's long forms, and a table of figures
#   make install  install under PREFIX (LUADIR, LIBDIR, BINDIR: as LuaRocks
#                 passes them, see moonbeam-scm-1.rockspec)
#   make check-install  install the rock into ./lua_modules and use it
#   make checkhook      an opt-in build in build-checkhook against a LuaJIT
#                       whose compiled loops can be preempted (see below);
#                       make checkhook-spec runs specs in it

CC       ?= cc
LUAJIT   ?= luajit
OPT      ?= -O2 -g
SAN      ?=
LDFLAGS  := $(SAN)
LIBS_UV  := $(shell pkg-config --libs libuv 2>/dev/null) -lpthread -lm -ldl
# The system's LuaJIT, or the one installed under LUAJIT_PREFIX (make checkhook).
ifdef LUAJIT_PREFIX
LUAJIT   := $(LUAJIT_PREFIX)/bin/luajit
CFLAGS_LJ := -I$(LUAJIT_PREFIX)/include/luajit-2.1
LIBS_LJ  := -L$(LUAJIT_PREFIX)/lib -Wl,-rpath,$(LUAJIT_PREFIX)/lib -lluajit-5.1
else
CFLAGS_LJ := $(shell pkg-config --cflags luajit 2>/dev/null)
LIBS_LJ  := $(shell pkg-config --libs luajit 2>/dev/null)
endif
WERROR   ?= -Werror
# The core (host/core, host/otp, host/console) builds without LuaJIT's
# headers: only bindings/ and the executable see them.
CFLAGS_CORE := $(OPT) $(SAN) -std=c11 -D_GNU_SOURCE -Wall -Wextra $(WERROR) -fPIC -Ihost \
               $(shell pkg-config --cflags libuv 2>/dev/null)
CFLAGS   := $(CFLAGS_CORE) $(CFLAGS_LJ)
# LuaRocks passes LuaJIT's headers this way (the rockspec's build_variables).
CFLAGS   += $(if $(LUA_INCDIR),-I$(LUA_INCDIR))

B        ?= build
# Every Lua module of moonbeam is built in (embedded.c below): one left out
# would be found only where package.path happens to reach lua/.
LUA_SRC  := $(sort $(wildcard lua/moonbeam/*.lua))
# host/core: the runtime, in plain C (no LuaJIT); host/otp: supervisors in
# C; host/console: the socket consoles attach through; host/dist: the
# node of an Erlang cluster (docs/reference.md, "Nodes"); bindings/: the Lua
# process kind and the Lua API; host/cli: the executable's own parts.
CORE_SRC := $(wildcard host/core/*.c host/otp/*.c host/console/*.c host/dist/*.c) $(wildcard bindings/*.c)
OBJS     := $(patsubst %.c,$(B)/obj/%.o,$(CORE_SRC)) $(B)/obj/embedded.o
HEADERS  := $(wildcard host/*/*.h bindings/*.h)

DEB_PKGS := luajit libluajit-5.1-dev libuv1-dev lua-cjson lua-cjson-dev lua-busted \
            libedit-dev pkg-config clang tmux luarocks gdb procps redis-tools curl erlang-base elixir
export LUA_PATH  := ./lua/?.lua;./lua/?/init.lua;./?.lua;;
export LUA_CPATH := ./$(B)/lib/?.so;;
# The specs crash processes on purpose; their crash reports would be noise.
spec soak asan tsan checkhook-spec: export MOONBEAM_CRASH_LOG := 0
BUSTED   := $(LUAJIT) /usr/bin/busted --output=spec/support/summary.lua
# Specs that start subprocesses run in the plain build only: under a
# preloaded sanitizer runtime LuaJIT's os.execute itself fails.
SAN_SPECS = $(filter-out spec/cli_spec.lua spec/require_spec.lua spec/console_spec.lua spec/attach_spec.lua \
                         spec/examples_run_spec.lua spec/module_cache_spec.lua spec/port_spec.lua \
                         spec/logger_run_spec.lua \
                         spec/node_spec.lua spec/node_message_spec.lua spec/node_gen_server_spec.lua \
                         spec/node_monitor_spec.lua spec/node_link_spec.lua spec/node_elixir_spec.lua,$(wildcard spec/*_spec.lua))

.PHONY: all deps demo test spec core-test core-test-asan core-test-tsan soak asan tsan fuzz fuzz-short \
        bench clean install check-install \
        checkhook checkhook-spec

# The network examples' specs start clients too. net_faults_spec passes
# under ASan, but under TSan its /proc/PID/fd count reuses descriptor
# numbers the I/O thread closed, which TSan takes for a data race.
SAN_SPECS := $(filter-out spec/example_tcp_echo_spec.lua spec/example_resp_server_spec.lua \
                          spec/example_http_server_spec.lua spec/net_faults_spec.lua,$(SAN_SPECS))

all: $(B)/lib/moonbeam/core.so $(B)/bin/moonbeam

$(B)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/obj/host/core/%.o $(B)/obj/host/otp/%.o $(B)/obj/host/console/%.o $(B)/obj/host/dist/%.o: CFLAGS := $(CFLAGS_CORE)

# A C program that uses the core alone (no LuaJIT linked): spec/core. It
# also checks the distribution's MD5 against RFC 1321's test suite.
CORE_OBJS := $(patsubst %.c,$(B)/obj/%.o,$(wildcard host/core/*.c)) $(B)/obj/host/dist/md5.o
$(B)/bin/core_test: spec/core/core_test.c $(CORE_OBJS) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_CORE) -o $@ spec/core/core_test.c $(CORE_OBJS) $(LIBS_UV) $(LDFLAGS)

# The Lua modules every process may need, as bytecode inside the core,
# stripped of debug info: every process pays for what it loads. Listed in
# strcmp's order of their names (LC_ALL=C sort), for mbb_find_embedded's
# binary search.
EMBEDDED_NAMES = $(shell for f in $(LUA_SRC); do echo $$f | sed -e 's|^lua/||' -e 's|/init\.lua$$||' -e 's|\.lua$$||' -e 's|/|.|g'; done | LC_ALL=C sort)
$(B)/gen/embedded.c: $(LUA_SRC) Makefile
	@mkdir -p $(B)/gen
	@printf '#include "../../bindings/bindings.h"\n' > $@.tmp
	@for f in $(LUA_SRC); do \
	  m=$$(echo $$f | sed -e 's|^lua/||' -e 's|/init\.lua$$||' -e 's|\.lua$$||' -e 's|/|.|g'); \
	  $(LUAJIT) -b -s -t h -n "$$m" $$f $(B)/gen/$$m.h || exit 1; \
	  printf '#include "%s.h"\n' $$m >> $@.tmp; \
	done
	@printf 'const mbb_embedded mbb_embedded_modules[] = {\n' >> $@.tmp
	@for m in $(EMBEDDED_NAMES); do \
	  s=luaJIT_BC_$$(echo $$m | tr . _); \
	  printf '    {"%s", %s, %s_SIZE},\n' $$m $$s $$s >> $@.tmp; \
	done
	@printf '};\nconst size_t mbb_n_embedded = sizeof mbb_embedded_modules / sizeof *mbb_embedded_modules;\n' >> $@.tmp
	@mv $@.tmp $@

$(B)/obj/embedded.o: $(B)/gen/embedded.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-unused-const-variable -c $< -o $@

# The C module: LuaJIT's symbols come from the process that loads it.
$(B)/lib/moonbeam/core.so: $(OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -shared -o $@ $(OBJS) $(LIBS_UV) $(LDFLAGS)

# The executable adds the console's terminal (libedit) to the core.
$(B)/bin/moonbeam: $(B)/obj/host/cli/main.o $(B)/obj/host/cli/console.o $(OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -rdynamic -o $@ $^ $(LIBS_LJ) $(LIBS_UV) -ledit $(LDFLAGS)

# Where `make install` puts the C module, the Lua modules and the executable.
PREFIX   ?= /usr/local
LUADIR   ?= $(PREFIX)/share/lua/5.1
LIBDIR   ?= $(PREFIX)/lib/lua/5.1
BINDIR   ?= $(PREFIX)/bin

install: all
	install -d $(DESTDIR)$(LIBDIR)/moonbeam $(DESTDIR)$(LUADIR)/moonbeam $(DESTDIR)$(BINDIR)
	install -m 755 $(B)/lib/moonbeam/core.so $(DESTDIR)$(LIBDIR)/moonbeam/core.so
	install -m 644 lua/moonbeam/*.lua $(DESTDIR)$(LUADIR)/moonbeam/
	install -m 755 $(B)/bin/moonbeam $(DESTDIR)$(BINDIR)/moonbeam

# The rock, installed offline into ./lua_modules and used from elsewhere;
# ends with "N passed, N failed".
check-install: all
	@sh spec/support/check_install.sh

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

demo: deps
	@$(MAKE) --no-print-directory all
	$(B)/bin/moonbeam run examples/app.lua

# Each spec file runs in its own busted process under a time limit
# (spec/support/run_specs.sh): a file that hangs is reported with its test and
# stacks, and the run goes on. Files run side by side, SPEC_JOBS at a time
# (default four per processor), the longest first as the last run's times in
# $(B)/spec-times say. SPEC_ALONE's files time how soon the host answers
# beside processes that never yield, which other files' load would skew:
# they run first, alone.
RUN_SPECS := sh spec/support/run_specs.sh
ALL_SPECS  = $(wildcard spec/*_spec.lua)
export SPEC_ALONE ?= spec/isolation_spec.lua

spec: all
	@SPEC_TIMES=$(B)/spec-times $(RUN_SPECS) "$(BUSTED)" $(ALL_SPECS)

core-test: $(B)/bin/core_test
	@$(B)/bin/core_test

# The reliability suite's long forms (spec/reliability_spec.lua with
# MOONBEAM_SOAK=1: a minute of kill storm, 1M spawn/exit, 1M timers, 30 s
# of spinners, blocking calls and a memory bomb beside a ticker), then a
# table of what each scenario measured. Minutes; not part of make test.
soak: all
	@MOONBEAM_SOAK=1 SPEC_FILE_TIMEOUT=1800 $(RUN_SPECS) "$(BUSTED)" spec/reliability_spec.lua \
	  >$(B)/soak.log 2>&1; rc=$$?; cat $(B)/soak.log; \
	echo; echo "what the soak measured:"; grep -o 'SOAK .*' $(B)/soak.log | sed 's/^SOAK /  /'; exit $$rc

# Sanitizer builds go to their own trees; LuaJIT itself is not instrumented,
# so the runtime is preloaded into it. Under TSan a process runs 5-15 times
# slower: TSAN_JOBS spec files at a time there.
ASAN_MAKE = $(MAKE) --no-print-directory B=build-asan CC=gcc OPT="-O1 -g -fno-omit-frame-pointer" \
            SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
TSAN_MAKE = $(MAKE) --no-print-directory B=build-tsan CC=gcc OPT="-O1 -g -fno-omit-frame-pointer" SAN="-fsanitize=thread"

# The core's own test is built with the sanitizer, no preloading needed.
core-test-asan:
	@$(ASAN_MAKE) core-test
core-test-tsan:
	@TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 $(TSAN_MAKE) core-test

TSAN_JOBS ?= 2

asan:
	$(ASAN_MAKE) all
	@SPEC_TIMES=build-asan/spec-times $(RUN_SPECS) "env LD_PRELOAD=$$(gcc -print-file-name=libasan.so):$$(gcc -print-file-name=libubsan.so) \
	  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  LUA_CPATH=./build-asan/lib/?.so;; $(BUSTED)" $(SAN_SPECS)

tsan:
	$(TSAN_MAKE) all
	@SPEC_TIMES=build-tsan/spec-times SPEC_JOBS=$(TSAN_JOBS) $(RUN_SPECS) "env LD_PRELOAD=$$(gcc -print-file-name=libtsan.so) TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  LUA_CPATH=./build-tsan/lib/?.so;; $(BUSTED)" $(SAN_SPECS)

# ---- checkhook -------------------------------------------------------------
# Stock LuaJIT's compiled loops never look at hooks, so preemption
# (bindings/vm.c) does not reach a process spinning in one: its scheduler is
# handed off (host/core/sysmon.h) and its thread spins on until a kill abandons
# it there. A
# LuaJIT built with -DLUAJIT_ENABLE_CHECKHOOK checks the hook mask on every
# turn of a compiled loop and leaves the trace once a hook is set, at a cost
# in tight loops (bench/checkhook.sh measures both). `make checkhook` builds
# that LuaJIT from Debian's own source package (the version installed, its
# patches and one of ours, Debian's build flags) and moonbeam against it,
# all in build-checkhook; `make checkhook-spec` runs CH_SPECS there with
# MOONBEAM_CHECKHOOK=1. The default build does not change.
CH       := build-checkhook
CH_LJ    := $(CURDIR)/$(CH)/luajit
LJ_SRC   := build/luajit-src
CH_SPECS ?= spec/isolation_spec.lua

# apt-get source needs a deb-src entry: the system's own, with Types changed.
# Our one patch fixes pairs() loops under CHECKHOOK (see the patch).
LJ_PATCH := patches/luajit-checkhook-itern.patch
$(LJ_SRC)/src/lj_record.c: $(LJ_PATCH)
	@SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	if ! apt-cache showsrc luajit 2>/dev/null | grep -q '^Package: luajit'; then \
	  sed 's/^Types: deb$$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources | \
	    $$SUDO tee /etc/apt/sources.list.d/moonbeam-src.sources >/dev/null && \
	  $$SUDO apt-get update -qq || exit 1; fi; \
	command -v dpkg-source >/dev/null || \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq dpkg-dev >/dev/null
	rm -rf build/luajit-dl $(LJ_SRC) && mkdir -p build/luajit-dl
	cd build/luajit-dl && apt-get source -qq "luajit=$$(dpkg-query -W -f='$${source:Version}' libluajit-5.1-2)"
	mv build/luajit-dl/luajit-*/ $(LJ_SRC) && rm -rf build/luajit-dl
	patch -d $(LJ_SRC) -p1 < $(LJ_PATCH)

# As debian/rules builds it (amalg), with Debian's flags, plus CHECKHOOK.
$(CH_LJ)/lib/libluajit-5.1.so: $(LJ_SRC)/src/lj_record.c
	env -u LUA_PATH -u LUA_CPATH $(MAKE) -C $(LJ_SRC) amalg PREFIX=$(CH_LJ) \
	  XCFLAGS=-DLUAJIT_ENABLE_CHECKHOOK \
	  CFLAGS="$$(dpkg-buildflags --get CFLAGS)" LDFLAGS="$$(dpkg-buildflags --get LDFLAGS)"
	$(MAKE) -C $(LJ_SRC) install PREFIX=$(CH_LJ) >/dev/null
	ln -sf luajit-2.1.0-beta3 $(CH_LJ)/bin/luajit

checkhook: deps $(CH_LJ)/lib/libluajit-5.1.so
	@$(MAKE) --no-print-directory B=$(CH) LUAJIT_PREFIX=$(CH_LJ) all

# busted runs on that LuaJIT, finding itself through the system's paths.
checkhook-spec: checkhook
	@sys_path=$$(env -u LUA_PATH $(LUAJIT) -e 'io.write(package.path)'); \
	sys_cpath=$$(env -u LUA_CPATH $(LUAJIT) -e 'io.write(package.cpath)'); \
	MOONBEAM_CHECKHOOK=1 MOONBEAM_SCHEDULERS=2 LUA_PATH="./lua/?.lua;./lua/?/init.lua;$$sys_path" \
	LUA_CPATH="./$(CH)/lib/?.so;$$sys_cpath" \
	$(CH_LJ)/bin/luajit /usr/bin/busted --output=spec/support/summary.lua $(CH_SPECS)

FUZZ_SECONDS ?= 60
# The codec with what it needs for Erlang's kinds of values (term_kinds.c).
$(B)/fuzz/decode_fuzz: spec/fuzz/decode_fuzz.c bindings/codec.c bindings/codec.h bindings/term_kinds.c \
                       host/core/term.c host/core/term.h host/dist/etf.h
	@mkdir -p $(dir $@)
	clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
	  -Ihost $$(pkg-config --cflags luajit) spec/fuzz/decode_fuzz.c bindings/codec.c bindings/term_kinds.c \
	  host/core/term.c -o $@ $(LIBS_LJ) -lm

# The core's term reader alone: no LuaJIT in this one.
$(B)/fuzz/term_fuzz: spec/fuzz/term_fuzz.c host/core/term.c host/core/term.h
	@mkdir -p $(dir $@)
	clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
	  -Ihost spec/fuzz/term_fuzz.c host/core/term.c -o $@ -lm

# Each fuzzer for FUZZ_SECONDS, from the same seeds; one pass per fuzzer.
fuzz: $(B)/fuzz/decode_fuzz $(B)/fuzz/term_fuzz
	@rc=0; p=0; f=0; for z in decode_fuzz term_fuzz; do \
	  mkdir -p $(B)/fuzz/corpus-$$z; \
	  if $(B)/fuzz/$$z -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=5 \
	      $(B)/fuzz/corpus-$$z spec/fuzz/seeds 2>$(B)/fuzz/$$z.log; then \
	    echo "$$z: $$(tail -n 1 $(B)/fuzz/$$z.log)"; p=$$((p + 1)); \
	  else tail -n 40 $(B)/fuzz/$$z.log; f=$$((f + 1)); rc=1; fi; \
	done; echo "$$p passed, $$f failed"; exit $$rc

fuzz-short:
	$(MAKE) fuzz FUZZ_SECONDS=10

test: deps
	@$(MAKE) --no-print-directory all
	@sh spec/support/run_all.sh

bench: deps all
	@missing=""; for p in erlang-base redis-server wrk; do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  [ -z "$$missing" ] || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -qq $$missing >/dev/null; }
	@bash bench/run.sh

clean:
	rm -rf build build-asan build-tsan build-checkhook
