"""What a person uses: the ``exactcl`` command line (its arguments, its
``--subset`` option) and the pictures (the ``plot`` extra).
"""
