"""A two-page demo store that embeds the messenger like a real store would, so
`make run` shows the widget. Served in development only (SUPPORTBOT_DEMO_STORE).

It can sign a shopper in: the page then carries a signed identity token, minted
here with SUPPORTBOT_IDENTITY_SECRET exactly as the store's own backend would.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST, require_safe

from apps.orders.identity import IdentityTokenError, make_identity_token
from apps.orders.models import Customer

SESSION_KEY = "demo_store_customer"
PAGES = {
    "home": ("demo_store/home.html", "Sierra Outfitters"),
    "trail": ("demo_store/trail.html", "Trail gear"),
}


def _enabled() -> None:
    if not settings.SUPPORTBOT_DEMO_STORE:
        raise Http404("The demo store is switched off.")


def _page(request: HttpRequest, page: str) -> HttpResponse:
    _enabled()
    template, title = PAGES[page]
    customer = None
    identity = ""
    customer_id = request.session.get(SESSION_KEY)
    if customer_id:
        customer = Customer.objects.filter(pk=customer_id).first()
    if customer is not None:
        try:
            identity = make_identity_token(customer.pk)
        except IdentityTokenError:
            identity = ""
    return render(
        request,
        template,
        {
            "title": title,
            "page": page,
            "customer": customer,
            "identity": identity,
            "can_sign_in": bool(settings.SUPPORTBOT_IDENTITY_SECRET),
            "demo_customers": Customer.objects.all()[:3],
        },
    )


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    return _page(request, "home")


@require_safe
def trail(request: HttpRequest) -> HttpResponse:
    return _page(request, "trail")


@require_POST
def sign_in(request: HttpRequest) -> HttpResponse:
    _enabled()
    customer_id = request.POST.get("customer", "")
    if customer_id and Customer.objects.filter(pk=customer_id).exists():
        request.session[SESSION_KEY] = customer_id
    else:
        request.session.pop(SESSION_KEY, None)
    return redirect("demo-store-trail" if request.POST.get("page") == "trail" else "demo-store")
