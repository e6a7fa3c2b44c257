"""Routes and message classes, read from the descriptor set that `make gen` builds from protos/."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, MethodDescriptor
from google.protobuf.message import Message

DEFAULT_DESCRIPTOR_SET = Path(__file__).resolve().parent.parent / "build" / "carthouse.pb"
_VARIABLE = re.compile(r"\{([a-zA-Z_][\w.]*)(?:=[^}]*)?\}")


@dataclass(frozen=True)
class Route:
    """One google.api.http rule: where it is served and which RPC answers it."""

    verb: str
    template: str
    pattern: re.Pattern[str]
    variables: tuple[str, ...]
    body: str
    service: str
    method: str
    request_class: type[Message]
    response_class: type[Message]

    @property
    def grpc_path(self) -> str:
        return f"/{self.service}/{self.method}"

    @property
    def is_templated(self) -> bool:
        return bool(self.variables)


def _compile(template: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    variables = tuple(_VARIABLE.findall(template))
    regex = ""
    last = 0
    for match in _VARIABLE.finditer(template):
        regex += re.escape(template[last:match.start()]) + "([^/]+)"
        last = match.end()
    regex += re.escape(template[last:])
    return re.compile(f"^{regex}$"), variables


class ApiDescriptors:
    """The descriptor set loaded into its own pool: routes, message classes, services."""

    def __init__(self, path: Path = DEFAULT_DESCRIPTOR_SET) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise FileNotFoundError(f"descriptor set {self.path} not found: run `make gen`")
        files = descriptor_pb2.FileDescriptorSet.FromString(self.path.read_bytes())
        self.pool = descriptor_pool.DescriptorPool()
        for file in files.file:
            self.pool.Add(file)
        self.files = files
        self.routes = self._routes()

    def message_class(self, descriptor: Descriptor) -> type[Message]:
        return message_factory.GetMessageClass(descriptor)

    def _routes(self) -> list[Route]:
        routes = []
        for file in self.files.file:
            for service in file.service:
                full_service = f"{file.package}.{service.name}"
                service_descriptor = self.pool.FindServiceByName(full_service)
                for method in service.method:
                    if not method.options.HasExtension(annotations_pb2.http):
                        continue
                    rule: http_pb2.HttpRule = method.options.Extensions[annotations_pb2.http]
                    routes.extend(self._routes_for(full_service, service_descriptor.methods_by_name[method.name], rule))
        return routes

    def _routes_for(self, service: str, method: MethodDescriptor, rule: http_pb2.HttpRule) -> list[Route]:
        found = []
        for binding in (rule, *rule.additional_bindings):
            verb = binding.WhichOneof("pattern")
            if verb is None or verb == "custom":
                continue
            template = getattr(binding, verb)
            pattern, variables = _compile(template)
            found.append(Route(
                verb=verb.upper(),
                template=template,
                pattern=pattern,
                variables=variables,
                body=binding.body,
                service=service,
                method=method.name,
                request_class=self.message_class(method.input_type),
                response_class=self.message_class(method.output_type),
            ))
        return found

    def public_services(self) -> list[str]:
        return sorted({route.service for route in self.routes})


class Router:
    """Finds the route of (verb, path): literal paths by dict lookup, templated ones by pattern."""

    def __init__(self, routes: list[Route]) -> None:
        self._literal = {(r.verb, r.template): r for r in routes if not r.is_templated}
        self._templated = [r for r in routes if r.is_templated]
        self.paths = {r.template for r in routes}

    def match(self, verb: str, path: str) -> tuple[Route, dict[str, str]] | None:
        route = self._literal.get((verb, path))
        if route is not None:
            return route, {}
        for candidate in self._templated:
            if candidate.verb != verb:
                continue
            matched = candidate.pattern.match(path)
            if matched:
                return candidate, dict(zip(candidate.variables, matched.groups(), strict=True))
        return None

    def path_exists(self, path: str) -> bool:
        return any(
            r.pattern.match(path) for r in [*self._literal.values(), *self._templated]
        )
