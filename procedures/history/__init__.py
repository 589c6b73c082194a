"""The resident's history: every movement of a wallet's balance, from the chain's events, named by the
service's records (the shop, the city, the procedure), with the running balance.

    movements.py  the movements of one wallet: indexed coin events, what each was, who the other side is
    schemas.py    the response bodies
    routes.py     /v1/wallet/movements
"""
