// Seed 002's user service as the lab describes it: Spring Boot, PostgreSQL
// through JDBC (HikariCP's pool, PgJDBC's extended protocol), and a call to
// the point service for each user. No agent, no tracing library.
package sonde.lab;

import java.util.List;
import java.util.Map;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.http.HttpStatus;
import org.springframework.http.ResponseEntity;
import org.springframework.jdbc.core.JdbcTemplate;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PathVariable;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.client.RestClient;
import org.springframework.web.client.RestClientResponseException;

@SpringBootApplication
@RestController
public class UserService {
    private final JdbcTemplate db;
    private final RestClient points;

    public UserService(JdbcTemplate db, @Value("${point.url}") String pointUrl) {
        this.db = db;
        this.points = RestClient.builder().baseUrl(pointUrl).build();
    }

    public static void main(String[] args) {
        SpringApplication.run(UserService.class, args);
    }

    @GetMapping("/actuator/health")
    public Map<String, String> health() {
        return Map.of("status", "UP");
    }

    /** A user with the total of their points (a distributed call). */
    @GetMapping("/api/v1/users/{id}")
    public ResponseEntity<Map<String, Object>> user(@PathVariable long id) {
        List<Map<String, Object>> rows =
            db.queryForList("SELECT id, name, email FROM users WHERE id = ?", id);
        if (rows.isEmpty()) {
            return ResponseEntity.status(HttpStatus.NOT_FOUND).body(Map.of("error", "no user " + id));
        }
        try {
            Map<?, ?> total = points.get().uri("/api/v1/points/user/{id}/total", id)
                .retrieve().body(Map.class);
            Map<String, Object> user = new java.util.HashMap<>(rows.get(0));
            user.put("points", total.get("total"));
            return ResponseEntity.ok(user);
        } catch (RestClientResponseException e) {
            return ResponseEntity.status(HttpStatus.BAD_GATEWAY)
                .body(Map.of("error", "point service answered " + e.getStatusCode().value()));
        }
    }
}
