-- A module that returns a number where a gen_server wants a table of callbacks.
return 42
