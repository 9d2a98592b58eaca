-- A module that fails while it loads: spawning it must end the new process
-- with a crash reason, never take the host down.
error("broken on purpose")
