"""Kinds the policy makes of other kinds, because only it knows the context: kind read -> kind made.

A stated price becomes a `price` for one product (prices.py: what was on camera, what the room lists); a
room's frame fingerprint becomes a `stream_copy` of another room (streams.py: what other rooms show).
"""

DERIVED = {"stated_price": "price", "stream_frame": "stream_copy"}
