"""The producer: growth of the generated Lie algebra, the certified count,
law search (expanded and by evaluation), laws of parameter subsets, and
the results these return (with their progress and rich display).

Nothing here is trusted: every claim it makes is written to a certificate
and re-checked by :mod:`exactcl.kernel`.
"""
