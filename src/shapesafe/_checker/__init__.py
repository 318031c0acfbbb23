"""The checker behind :func:`shapesafe.check` (private).

Modules, in the order data flows through them:

- :mod:`.dims`: one axis of an annotation string (one frozen dataclass per dim kind) and
  the parser of ``"batch *rest 3 n+1"``; :mod:`shapesafe.testing` reuses it.
- :mod:`.plan`: an annotation (jaxtyping array, tuple, NamedTuple, dataclass, union,
  plain class, distribution spec) becomes a small tree of nodes, one class per kind.
- :mod:`.match`: the reference matcher, the one definition of what "matches" means.
- :mod:`.explain`: a failed call becomes a message and a hint.
- :mod:`.codegen`: the body of the fast per-call wrapper, generated Python source.
- :mod:`.wrapper`: the function around that body (signature, failure path, flavours).
- :mod:`.decorator`: ``check`` and ``check_shape``.
"""
