"""Every payments router besides the resident wallet's: the merchant API, resident checkout, the
operator's money endpoints (one ``include_router`` in ``procedures.app``)."""

from __future__ import annotations

from fastapi import APIRouter

from procedures.payments import admin_routes, checkout_routes, merchant_routes

router = APIRouter()
router.include_router(merchant_routes.router)
router.include_router(checkout_routes.router)
router.include_router(admin_routes.router)
